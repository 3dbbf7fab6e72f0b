"""``os-interface``: attach a port to a server that exists, and detach it again.

Attaching an SR-IOV port claims a device on the server's own host (explained
when none is free), binds the port there and asks the agent to plug it. On a
running server a detach first asks the agent to unplug; only when the domain no
longer shows the port is the port unbound and its device freed, so a VF is
never handed to another server while a guest still holds it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from vfplane.db.compute_tables import Server
from vfplane.domain.requests import PciRequest
from vfplane.domain.scheduling import InstanceRequest
from vfplane.errors import Conflict, NotFound
from vfplane.service import claims
from vfplane.service import ports as port_service
from vfplane.service.context import RequestContext
from vfplane.service.server_actions import finish_action, record_action, require_state
from vfplane.service.server_ports import NicRequest, ServerPort, bind_ports, prepare_ports
from vfplane.service.server_ports import release_ports as release
from vfplane.service.servers import (
    BootTools,
    claim_best,
    get_server,
    port_requests,
    request_dict,
)

ATTACH, DETACH = "attach_interface", "detach_interface"
PLUG_VM_STATES = ("active", "stopped")


def server_ports(server: Server) -> list[ServerPort]:
    """The ports attached (or being attached) to the server; detaching ones are left out."""
    ports = [ServerPort.from_dict(p) for p in server.ports]
    return [p for p in ports if p.pending != "detach"]


def _claim(
    session: Session, server: Server, requests: list[PciRequest], tools: BootTools
) -> dict[str, str]:
    """Claim on the server's host; port id → PCI address. Conflict explains a full host."""
    host = str(server.host)
    request = InstanceRequest(0, 0, requests)
    candidate, decision = claim_best(session, server.id, request, tools.hosts, only=host)
    if candidate is None and decision.fits:
        raise Conflict(f"The devices of host {host} keep changing; try the attach again",
                       kind="InterfaceAttachFailed")  # fmt: skip
    if candidate is None:
        raise Conflict(f"No device for the port on host {host}, where server {server.id} "
                       f"runs: {decision.summary}", kind="InterfaceAttachFailed")  # fmt: skip
    return {str(a.requester_id): str(a.addresses[0]) for a in candidate.assignments}


def attach(
    session: Session, context: RequestContext, server_id: str, nic: NicRequest,
    tools: BootTools, now: datetime,
) -> ServerPort:  # fmt: skip
    """Attach an existing port or a new one on a network; all or nothing."""
    server = get_server(session, context, server_id)
    context.require_write("Attaching an interface")
    require_state(server, ATTACH, PLUG_VM_STATES)
    (port,) = prepare_ports(session, context, [nic], tools.ports, tools.binder, now)
    extra_specs = {str(k): str(v) for k, v in (server.flavor.get("extra_specs") or {}).items()}
    requests: list[PciRequest] = []
    try:
        requests = port_requests([port], extra_specs)
        slots: dict[str, str | None] = {port.port_id: None}
        if requests:
            slots.update(_claim(session, server, requests, tools))
        failures = bind_ports(session, server.id, str(server.host), slots, tools.binder, now)
        if failures:
            raise Conflict(f"Failed to attach port {port.port_id} to server {server.id}: "
                           + "; ".join(failures), kind="InterfaceAttachFailed")  # fmt: skip
    except Exception:
        session.rollback()
        _free(session, server, {r.request_id for r in requests})
        release(session, context, [port], tools.binder, now, owner=server.id)
        session.commit()
        raise
    claims.allocate(session, str(server.host), server.id)
    running = server.vm_state == "active"
    attached = replace(port, pending="attach" if running else None)
    server.ports = [*server.ports, attached.as_dict()]
    server.pci_requests = [*server.pci_requests, *(request_dict(r) for r in requests)]
    server.updated_at = now
    record_action(session, context, server.id, ATTACH, now, pending=running)
    session.commit()
    return attached


def _free(session: Session, server: Server, request_ids: set[str]) -> None:
    if server.host and request_ids:
        claims.free(session, server.host, server.id, request_ids)


def _release(
    session: Session, context: RequestContext, server: Server, port: ServerPort,
    tools: BootTools, now: datetime,
) -> None:  # fmt: skip
    """Unbind (or delete a created) port, free its device, forget it on the server."""
    request_ids = {r["request_id"] for r in server.pci_requests
                   if r.get("requester_id") == port.port_id}  # fmt: skip
    release(session, context, [port], tools.binder, now, owner=server.id)
    _free(session, server, request_ids)
    server.ports = [p for p in server.ports if p["port_id"] != port.port_id]
    server.pci_requests = [r for r in server.pci_requests if r["request_id"] not in request_ids]
    server.updated_at = now


def detach(
    session: Session, context: RequestContext, server_id: str, port_id: str,
    tools: BootTools, now: datetime,
) -> None:  # fmt: skip
    server = get_server(session, context, server_id)
    context.require_write("Detaching an interface")
    port = next((p for p in server_ports(server) if p.port_id == port_id), None)
    if port is None:
        raise NotFound(f"Port {port_id} is not attached to server {server_id}",
                       kind="PortNotFound")  # fmt: skip
    require_state(server, DETACH, PLUG_VM_STATES)
    if port.pending == "attach":
        raise Conflict(
            f"Port {port_id} is still being attached to server {server_id}; detach it when "
            "the attach has finished", kind="InstanceInvalidState",
        )  # fmt: skip
    if server.vm_state == "active":
        server.ports = [replace(ServerPort.from_dict(p), pending="detach").as_dict()
                        if p["port_id"] == port_id else p for p in server.ports]  # fmt: skip
        record_action(session, context, server.id, DETACH, now, pending=True)
    else:
        _release(session, context, server, port, tools, now)
        record_action(session, context, server.id, DETACH, now)
    server.updated_at = now
    session.commit()


def settle(
    session: Session, context: RequestContext, server: Server, plugged: set[str],
    message: str, tools: BootTools, now: datetime,
) -> None:  # fmt: skip
    """The running domain shows ``plugged``: finish the attaches and detaches it completes."""
    entries: list[dict[str, Any]] = []
    changed = False
    for entry in list(server.ports):
        port = ServerPort.from_dict(entry)
        if port.pending == "attach" and port.port_id in plugged:
            entries.append(replace(port, pending=None).as_dict())
            changed = True
            finish_action(session, server.id, ATTACH, now, message or None)
        elif port.pending == "detach" and port.port_id not in plugged:
            _release(session, context, server, port, tools, now)
            changed = True
            finish_action(session, server.id, DETACH, now, message or None)
        else:
            entries.append(entry)
    if changed:
        server.ports = entries


def delete_port(session: Session, context: RequestContext, port_id: str, now: datetime) -> None:
    """Delete a port; a server holding it forgets it and gives back its device (Nova's answer
    to Neutron's network-vif-deleted), so no VF stays claimed for a port that is gone."""
    port = port_service.held_port(session, context, port_id, "Deleting a port")
    owner = session.get(Server, port.device_id) if port.device_id else None
    request_ids: set[str] = set()
    if owner is not None and any(p["port_id"] == port_id for p in owner.ports):
        request_ids = {r["request_id"] for r in owner.pci_requests
                       if r.get("requester_id") == port_id}  # fmt: skip
        owner.ports = [p for p in owner.ports if p["port_id"] != port_id]
        owner.pci_requests = [r for r in owner.pci_requests
                              if r["request_id"] not in request_ids]  # fmt: skip
        owner.updated_at = now
    session.delete(port)  # its addresses and bindings go with it
    session.commit()  # the server's change too
    if owner is not None and owner.host and request_ids:
        claims.free(session, owner.host, owner.id, request_ids)
