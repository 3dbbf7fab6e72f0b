"""``/servers/{id}/action`` (stop, start, reboot) and ``/servers/{id}/os-interface``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vfplane.api.compute.microversion import ComputeRoute
from vfplane.api.compute.servers import boot_tools
from vfplane.api.deps import Caller, Db, Deps
from vfplane.db.tables import IpAllocation, Port
from vfplane.errors import InvalidInput, NotFound
from vfplane.service import server_actions, server_interfaces, servers
from vfplane.service.server_ports import NicRequest, ServerPort

router = APIRouter(route_class=ComputeRoute, tags=["compute: server actions"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reboot(_Body):
    type: str = Field(description="SOFT or HARD")


class FixedIp(_Body):
    ip_address: str


class InterfaceAttachment(_Body):
    port_id: str | None = None
    net_id: str | None = None
    fixed_ips: list[FixedIp] | None = Field(None, max_length=1)
    tag: str | None = None
    vnic_type: str | None = Field(None, description="vfplane: create the port with this type")


class AttachBody(_Body):
    interfaceAttachment: InterfaceAttachment


@router.post("/servers/{server_id}/action", status_code=202,
             summary="Stop (os-stop), start (os-start) or reboot a server")  # fmt: skip
def server_action(
    server_id: str, body: dict[str, Any], caller: Caller, session: Db, deps: Deps
) -> Response:
    if len(body) != 1:
        raise InvalidInput(
            'Invalid input: the body names exactly one action, e.g. {"os-stop": null}, '
            '{"os-start": null} or {"reboot": {"type": "SOFT"}}'
        )
    ((action, argument),) = body.items()
    server = servers.get_server(session, caller, server_id)
    now = deps.clock()
    if action == "os-stop":
        server_actions.stop(session, caller, server, now)
    elif action == "os-start":
        server_actions.start(session, caller, server, now)
    elif action == "reboot":
        reboot = Reboot.model_validate(argument)
        server_actions.reboot(session, caller, server, reboot.type, now)
    else:
        raise InvalidInput(f"There is no such action: {action}; vfplane knows os-stop, "
                           "os-start and reboot")  # fmt: skip
    return Response(status_code=202)


def _attachment(session: Session, port: ServerPort) -> dict[str, Any]:
    row = session.get(Port, port.port_id)
    ips = session.scalars(select(IpAllocation).where(IpAllocation.port_id == port.port_id))
    return {"port_id": port.port_id, "net_id": port.network_id,
            "mac_addr": row.mac_address if row else port.mac_address,
            "port_state": row.status if row else "DOWN",
            "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in ips],
            "tag": None}  # fmt: skip


@router.get("/servers/{server_id}/os-interface", summary="List a server's port interfaces")
def list_interfaces(server_id: str, caller: Caller, session: Db) -> dict[str, Any]:
    server = servers.get_server(session, caller, server_id)
    ports = server_interfaces.server_ports(server)
    return {"interfaceAttachments": [_attachment(session, p) for p in ports]}


@router.get("/servers/{server_id}/os-interface/{port_id}", summary="Show a port interface")
def show_interface(server_id: str, port_id: str, caller: Caller, session: Db) -> dict[str, Any]:
    server = servers.get_server(session, caller, server_id)
    for port in server_interfaces.server_ports(server):
        if port.port_id == port_id:
            return {"interfaceAttachment": _attachment(session, port)}
    raise NotFound(f"Port {port_id} is not attached to server {server_id}", kind="PortNotFound")


@router.post("/servers/{server_id}/os-interface", summary="Attach a port or a new one on a network")
def attach_interface(
    server_id: str, body: AttachBody, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    given = body.interfaceAttachment
    if (given.port_id is None) == (given.net_id is None):
        raise InvalidInput("Invalid input for interfaceAttachment: give port_id or net_id")
    if given.port_id is not None and (given.fixed_ips or given.vnic_type):
        raise InvalidInput("Invalid input for interfaceAttachment: fixed_ips and vnic_type go "
                           "with net_id; an existing port keeps its own")  # fmt: skip
    fixed_ip = given.fixed_ips[0].ip_address if given.fixed_ips else None
    nic = NicRequest(given.port_id, given.net_id, given.vnic_type, fixed_ip)
    port = server_interfaces.attach(session, caller, server_id, nic, boot_tools(deps), deps.clock())
    return {"interfaceAttachment": _attachment(session, port)}


@router.delete("/servers/{server_id}/os-interface/{port_id}", status_code=202,
               summary="Detach a port interface")  # fmt: skip
def detach_interface(
    server_id: str, port_id: str, caller: Caller, session: Db, deps: Deps
) -> Response:
    server_interfaces.detach(session, caller, server_id, port_id, boot_tools(deps), deps.clock())
    return Response(status_code=202)
