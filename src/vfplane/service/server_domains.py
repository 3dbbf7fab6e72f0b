"""What the agent of a host should run, and what its reports mean for the servers.

The agent is level-triggered: it is told the domains to run (with their
interfaces, power state and boot generation) and reports what libvirt shows.
A report ends builds, stops, starts, reboots and interface changes; the domain
XML it carries is read for the boot generation and the ports actually plugged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, lazyload, selectinload

from vfplane.db.compute_tables import InstanceAction, Server
from vfplane.db.tables import PciDeviceRecord, Port
from vfplane.errors import InvalidDomainSpec
from vfplane.logs import log_context
from vfplane.service import server_actions, server_interfaces
from vfplane.service.context import RequestContext
from vfplane.service.port_bindings import current_binding
from vfplane.service.servers import ACTIVE_STATES, BootTools, fail
from vfplane.virt.readback import domain_generation, plugged_port_ids

LOG = logging.getLogger(__name__)
RECENTLY_RELEASED = 20  # servers gone from a host whose request ids its agent is still told


def _interfaces(session: Session, port_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Port id → what the agent plugs for it, for the bound ones, in two queries for all."""
    query = (select(Port).where(Port.id.in_(port_ids))
             .options(selectinload(Port.bindings), lazyload(Port.fixed_ips)))  # fmt: skip
    found = {}
    for port in session.scalars(query) if port_ids else ():
        binding = current_binding(port)
        if binding is not None:
            found[port.id] = {
                "port_id": port.id, "mac_address": port.mac_address,
                "vif_type": binding.vif_type, "vnic_type": binding.vnic_type,
                "vif_details": dict(binding.vif_details),
                "pci_slot": binding.profile.get("pci_slot")}  # fmt: skip
    return found


def _hostdevs(session: Session, host: str, servers: Sequence[Server]) -> dict[str, list[Any]]:
    """Server id → the devices its flavor's aliases took (plugged as hostdevs), one query."""
    aliases = {
        r["request_id"] for s in servers for r in s.pci_requests if not r.get("requester_id")
    }
    query = select(
        PciDeviceRecord.instance_id,
        PciDeviceRecord.address,
        PciDeviceRecord.tags,
        PciDeviceRecord.request_id,
    ).where(PciDeviceRecord.host == host, PciDeviceRecord.instance_id.in_([s.id for s in servers]))
    found: dict[str, list[Any]] = {}
    for instance_id, address, tags, request_id in session.execute(query) if aliases else ():
        if request_id in aliases:
            found.setdefault(instance_id, []).append(
                {"address": address, "managed": (tags or {}).get("managed") != "false"}
            )
    return found  # fmt: skip


def request_ids(session: Session, server_ids: Sequence[str]) -> dict[str, str]:
    """Server id → the request id of its latest instance action: the call whose outcome the
    agent works on (the boot, a stop, an attach, the delete), one query for all."""
    query = (select(InstanceAction.server_id, InstanceAction.request_id)
             .where(InstanceAction.server_id.in_(server_ids))
             .order_by(InstanceAction.start_time, InstanceAction.id))  # fmt: skip
    found: dict[str, str] = {}
    for server_id, request_id in session.execute(query) if server_ids else ():
        if request_id:
            found[server_id] = request_id
    return found


def _desired(
    server: Server, interfaces: dict[str, dict[str, Any]], hostdevs: dict[str, list[Any]],
    request_id: str | None,
) -> dict[str, Any]:  # fmt: skip
    plugged = [p["port_id"] for p in server.ports if p.get("pending") != "detach"]
    return {"id": server.id, "name": server.name, "request_id": request_id,
            "vcpus": int(server.flavor.get("vcpus", 1)),
            "memory_mb": int(server.flavor.get("ram", 512)),
            "image_location": server.image_location,
            "running": server_actions.wants_running(server),
            "generation": server.generation, "reboot": server.reboot_type or "HARD",
            "numa_nodes": list(server.numa_nodes or []),
            "interfaces": [interfaces[p] for p in plugged if p in interfaces],
            "hostdevs": hostdevs.get(server.id, [])}  # fmt: skip


def desired_servers(session: Session, host: str) -> list[dict[str, Any]]:
    """The domains the agent of ``host`` should have, once their ports are bound."""
    query = select(Server).where(
        Server.host == host, Server.deleted_at.is_(None), Server.status.in_(ACTIVE_STATES),
        Server.task_state.is_distinct_from("networking"),
    ).order_by(Server.id)  # fmt: skip
    servers = list(session.scalars(query))
    port_ids = [p["port_id"] for s in servers for p in s.ports if p.get("pending") != "detach"]
    interfaces = _interfaces(session, port_ids)
    hostdevs = _hostdevs(session, host, servers)
    ids = request_ids(session, [server.id for server in servers])
    return [_desired(server, interfaces, hostdevs, ids.get(server.id)) for server in servers]


def released(session: Session, host: str) -> dict[str, dict[str, str]]:
    """What the agent of ``host`` takes down, with the request id that asked for it: the
    servers deleted or failed there last (their domains removed, their VFs restored) and the
    ports being detached. The agent's log lines about them name that request."""
    gone = list(session.execute(
        select(Server.id, Server.ports)
        .where(Server.host == host,
               or_(Server.deleted_at.is_not(None), Server.status.not_in(ACTIVE_STATES)))
        .order_by(Server.updated_at.desc()).limit(RECENTLY_RELEASED)))  # fmt: skip
    live = session.execute(
        select(Server.id, Server.ports).where(
            Server.host == host, Server.deleted_at.is_(None), Server.status.in_(ACTIVE_STATES)
        )
    )
    detaching = {server_id: [p for p in held if p.get("pending") == "detach"]
                 for server_id, held in live}  # fmt: skip
    taken = [(server_id, held) for server_id, held in gone]
    taken += [(server_id, held) for server_id, held in detaching.items() if held]
    ids = request_ids(session, [server_id for server_id, _ in taken])
    ports = {str(p["port_id"]): ids[server_id]
             for server_id, held in taken if server_id in ids for p in held}  # fmt: skip
    servers = {server_id: ids[server_id] for server_id, _ in gone if server_id in ids}
    return {"servers": servers, "ports": ports}


def refresh(session: Session, server: Server, now: datetime) -> None:
    """BUILD → ACTIVE once the domain runs and every port is ACTIVE."""
    if server.status != "BUILD" or server.power_state != 1:
        return
    ports = session.scalars(
        select(Port.status).where(Port.id.in_([p["port_id"] for p in server.ports]))
    )
    if all(status == "ACTIVE" for status in ports):
        server.status, server.vm_state, server.task_state = "ACTIVE", "active", None
        server.launched_at = server.updated_at = now


@dataclass(frozen=True)
class DomainReport:
    server_id: str
    state: str  # running | shutoff | error
    message: str = ""
    xml: str | None = None
    request_id: str | None = None  # the call whose outcome this is: the lines about it name it


def _plugged_ports(xml: str | None) -> set[str] | None:
    """Port ids the domain XML shows plugged; None when there is no readable XML."""
    if not xml:
        return None
    try:
        return plugged_port_ids(xml)
    except InvalidDomainSpec:
        return None


def _generation(xml: str | None) -> int:
    try:
        return domain_generation(xml) if xml else 0
    except InvalidDomainSpec:
        return 0


def _apply(
    session: Session, context: RequestContext, server: Server, report: DomainReport,
    tools: BootTools, now: datetime,
) -> None:  # fmt: skip
    if report.state == "error":
        if server.status == "BUILD":
            fail(session, context, server, tools, now, "The domain could not start",
                 report.message)  # fmt: skip
        else:
            server_actions.on_error(session, server, report.message, now)
        return
    server.domain_xml = report.xml or server.domain_xml
    if report.state == "shutoff":
        server.power_state = 4
        server_actions.on_shutoff(session, server, now)
        return
    server.power_state = 1
    server_actions.on_running(session, server, _generation(report.xml), now)
    plugged = _plugged_ports(report.xml)
    if plugged is not None:
        server_interfaces.settle(session, context, server, plugged, report.message, tools, now)
    refresh(session, server, now)


def report_domains(
    session: Session, context: RequestContext, host: str, reports: Sequence[DomainReport],
    tools: BootTools, now: datetime,
) -> list[str]:  # fmt: skip
    """Apply the agent's domain reports; returns the server ids it ignored."""
    context.require_host(host, "Reporting domains")
    ignored = []
    ids = [report.server_id for report in reports]
    found = {s.id: s for s in session.scalars(select(Server).where(Server.id.in_(ids)))}
    for report in reports:
        server = found.get(report.server_id)
        if server is None or server.host != host or server.deleted_at is not None:
            ignored.append(report.server_id)
            continue
        with log_context(request_id=report.request_id, server_id=server.id):
            LOG.info("server %s: domain %s on host %s%s", server.id, report.state, host,
                     f" ({report.message})" if report.message else "",
                     extra={"host": host, "state": report.state})  # fmt: skip
            _apply(session, context, server, report, tools, now)
    session.commit()
    return ignored


def servers_of_ports(session: Session, port_ids: Sequence[str], now: datetime) -> None:
    """Ports reported up may complete a build."""
    owners = {p.device_id for p in session.scalars(select(Port).where(Port.id.in_(port_ids)))}
    for server_id in owners - {""}:
        server = session.get(Server, server_id)
        if server is not None:
            refresh(session, server, now)


def expire_builds(
    session: Session, context: RequestContext, tools: BootTools, now: datetime, timeout: float
) -> list[str]:
    """Servers stuck in BUILD past ``timeout`` seconds go ERROR with everything given back."""
    stuck = session.scalars(select(Server).where(Server.status == "BUILD",
                                                 Server.deleted_at.is_(None)))  # fmt: skip
    expired = []
    for server in list(stuck):
        if (now - server.updated_at).total_seconds() > timeout:
            where = f" on host {server.host}" if server.host else ""
            fail(session, context, server, tools, now,
                 f"Build timed out after {timeout:g} s{where} waiting for "
                 f"{_waiting_for(server)}")  # fmt: skip
            expired.append(server.id)
    return expired


def _waiting_for(server: Server) -> str:
    """What a build stuck in BUILD was waiting for. Scheduling and binding happen inside the
    boot request: a build left there was cut short (its server process stopped)."""
    if server.task_state == "scheduling":
        return "a host to be chosen (the boot request did not finish)"
    if server.task_state == "networking":
        return "its ports to be bound (the boot request did not finish)"
    return "the domain to start" if server.power_state != 1 else "its ports to go ACTIVE"
