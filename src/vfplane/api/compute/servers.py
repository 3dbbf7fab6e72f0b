"""``/compute/v2.1/servers``: boot, show, list and delete servers, Nova-style."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vfplane.api.compute.microversion import APIVersion, ComputeRoute, Microversion
from vfplane.api.deps import ApiDependencies, Caller, Db, Deps
from vfplane.api.network.common import iso
from vfplane.db.compute_tables import InstanceAction, Server
from vfplane.db.tables import IpAllocation, Network, Port, Subnet
from vfplane.errors import InvalidInput, NotFound
from vfplane.service import flavors, images, servers
from vfplane.service.context import RequestContext
from vfplane.service.networks import list_networks
from vfplane.service.server_ports import NicRequest

router = APIRouter(route_class=ComputeRoute, tags=["compute: servers"])
POWER_STATES = {0: 0, 1: 1, 4: 4}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NetworkEntry(_Body):
    port: str | None = None
    uuid: str | None = None
    fixed_ip: str | None = None
    vnic_type: str | None = Field(None, description="vfplane: create the port with this type")
    tag: str | None = None


class BlockDevice(BaseModel):
    model_config = ConfigDict(extra="allow")


class ServerCreate(_Body):
    name: str = Field(min_length=1, max_length=255)
    flavorRef: str = Field(min_length=1)
    imageRef: str | None = None
    networks: list[NetworkEntry] | str = "auto"
    min_count: int = Field(1, ge=1, le=100)
    max_count: int | None = Field(None, ge=1, le=100)
    block_device_mapping_v2: list[BlockDevice] | None = None
    metadata: dict[str, str] | None = None
    description: str | None = None
    security_groups: list[dict[str, str]] | None = None
    availability_zone: str | None = None
    key_name: str | None = None
    user_data: str | None = None
    config_drive: bool | None = None
    adminPass: str | None = None


class ServerCreateBody(_Body):
    server: ServerCreate


def _nics(
    session: Session, context: RequestContext, networks: list[NetworkEntry] | str
) -> list[NicRequest]:
    if networks == "none":
        return []
    if networks == "auto":
        usable = list_networks(session, context)
        if len(usable) != 1:
            raise InvalidInput(f"Invalid input for server.networks: 'auto' needs exactly one "
                               f"network visible to the project, and there are {len(usable)}; "
                               "name one with uuid")  # fmt: skip
        return [NicRequest(network_id=usable[0].id)]
    if isinstance(networks, str):
        raise InvalidInput(f"Invalid input for server.networks: '{networks}' is not auto or none")
    nics = []
    for index, entry in enumerate(networks):
        if (entry.port is None) == (entry.uuid is None):
            raise InvalidInput(f"Invalid input for server.networks[{index}]: give port or uuid")
        nics.append(NicRequest(entry.port, entry.uuid, entry.vnic_type, entry.fixed_ip))
    return nics


def boot_tools(deps: ApiDependencies) -> servers.BootTools:
    return servers.BootTools(deps.binding, deps.port_config, deps.aliases, deps.host_view)


def _flavor(session: Session, context: RequestContext, flavor_id: str) -> dict[str, Any]:
    flavor = flavors.get_flavor(session, context, flavor_id)
    return {"id": flavor.id, "name": flavor.name, "vcpus": flavor.vcpus, "ram": flavor.ram,
            "disk": flavor.disk, "swap": flavor.swap, "ephemeral": flavor.ephemeral,
            "extra_specs": flavor.specs}  # fmt: skip


@router.post("/servers", status_code=202, summary="Boot servers")
def create_server(
    body: ServerCreateBody, request: Request, caller: Caller, session: Db, deps: Deps,
    version: Microversion,
) -> JSONResponse:  # fmt: skip
    given = body.server
    caller.require_write("Creating a server")
    flavor = _flavor(session, caller, given.flavorRef)
    image_id, location = None, None
    if given.imageRef:
        image = images.get_image(session, caller, given.imageRef)
        image_id, location = image.id, image.location
    count = given.max_count or given.min_count
    if count < given.min_count:
        raise InvalidInput("Invalid input for server.max_count: less than min_count")
    created = []
    for index in range(count):
        name = given.name if count == 1 else f"{given.name}-{index + 1}"
        boot = servers.BootRequest(name, flavor, image_id, location,
                                   _nics(session, caller, given.networks))  # fmt: skip
        created.append(servers.boot(session, caller, boot, boot_tools(deps), deps.clock()))
    first = created[0]
    links = _links(deps, first.id)
    return JSONResponse({"server": {"id": first.id, "links": links, "OS-DCF:diskConfig": "MANUAL",
                                    "security_groups": [{"name": "default"}],
                                    "adminPass": secrets.token_urlsafe(9)}},
                        status_code=202)  # fmt: skip


def _links(deps: ApiDependencies, server_id: str) -> list[dict[str, str]]:
    base = deps.public_base
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/servers/{server_id}"},
        {"rel": "bookmark", "href": f"{base}/compute/servers/{server_id}"},
    ]


Addresses = dict[str, list[dict[str, Any]]]


def addresses_of(session: Session, found: list[Server]) -> dict[str, Addresses]:
    """Server id → Nova's ``addresses`` (network name → fixed IPs), in one query for all."""
    wanted = {entry["port_id"] for server in found for entry in server.ports}
    by_port: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    query = (
        select(IpAllocation.port_id, IpAllocation.ip_address, Subnet.ip_version,
               Port.mac_address, Network.name, Network.id)
        .join(Port, Port.id == IpAllocation.port_id)
        .join(Subnet, Subnet.id == IpAllocation.subnet_id)
        .join(Network, Network.id == Port.network_id)
        .where(IpAllocation.port_id.in_(wanted))
        .order_by(IpAllocation.port_id, IpAllocation.ip_address)
    )  # fmt: skip
    for port_id, ip, version, mac, net_name, net_id in session.execute(query) if wanted else ():
        address = {"version": version, "addr": ip, "OS-EXT-IPS:type": "fixed",
                   "OS-EXT-IPS-MAC:mac_addr": mac}  # fmt: skip
        by_port.setdefault(port_id, []).append((net_name or net_id, address))
    result: dict[str, Addresses] = {}
    for server in found:
        addresses: Addresses = result.setdefault(server.id, {})
        for entry in server.ports:
            for network, address in by_port.get(entry["port_id"], ()):
                addresses.setdefault(network, []).append(address)
    return result


def render_server(server: Server, addresses: Addresses, deps: ApiDependencies,
                  version: APIVersion, context: RequestContext) -> dict[str, Any]:  # fmt: skip
    flavor = server.flavor
    body: dict[str, Any] = {
        "id": server.id, "name": server.name, "status": server.status,
        "tenant_id": server.project_id, "user_id": server.user_id, "metadata": {},
        "hostId": (server.host or "")[:56], "created": iso(server.created_at),
        "updated": iso(server.updated_at), "addresses": addresses,
        "image": {"id": server.image_id, "links": []} if server.image_id else "",
        "OS-EXT-AZ:availability_zone": "nova", "OS-EXT-STS:task_state": server.task_state,
        "OS-EXT-STS:vm_state": server.vm_state, "OS-EXT-STS:power_state": server.power_state,
        "OS-SRV-USG:launched_at": iso(server.launched_at), "OS-SRV-USG:terminated_at": None,
        "os-extended-volumes:volumes_attached": [], "security_groups": [{"name": "default"}],
        "locked": False, "tags": [], "links": _links(deps, server.id), "config_drive": "",
        "key_name": None, "accessIPv4": "", "accessIPv6": "", "progress": 0,
    }  # fmt: skip
    if version >= APIVersion(2, 47):
        body["flavor"] = {"vcpus": flavor.get("vcpus"), "ram": flavor.get("ram"),
                          "disk": flavor.get("disk"), "ephemeral": flavor.get("ephemeral", 0),
                          "swap": flavor.get("swap", 0), "original_name": flavor.get("name"),
                          "extra_specs": flavor.get("extra_specs", {})}  # fmt: skip
    else:
        body["flavor"] = {"id": server.flavor_id, "links": []}
    if context.is_admin_or_service:
        body["OS-EXT-SRV-ATTR:host"] = server.host
        body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = server.host
        body["OS-EXT-SRV-ATTR:instance_name"] = f"vfplane-{server.id}"
    if server.fault:
        body["fault"] = server.fault
    return body


def _filtered(request: Request, items: list[Server]) -> list[Server]:
    name = request.query_params.get("name")
    host = request.query_params.get("host")
    return [
        s for s in items if (name is None or s.name == name) and (host is None or s.host == host)
    ]


@router.get("/servers", summary="List servers (id, name, links)")
def list_servers(request: Request, caller: Caller, session: Db, deps: Deps) -> dict[str, Any]:
    found = _filtered(request, servers.list_servers(session, caller))
    return {"servers": [{"id": s.id, "name": s.name, "links": _links(deps, s.id)} for s in found]}


@router.get("/servers/detail", summary="List servers with details")
def list_servers_detail(request: Request, caller: Caller, session: Db, deps: Deps,
                        version: Microversion) -> dict[str, Any]:  # fmt: skip
    found = _filtered(request, servers.list_servers(session, caller))
    addresses = addresses_of(session, found)
    return {"servers": [render_server(s, addresses[s.id], deps, version, caller) for s in found]}


@router.get("/servers/{server_id}", summary="Show a server")
def show_server(server_id: str, caller: Caller, session: Db, deps: Deps,
                version: Microversion) -> dict[str, Any]:  # fmt: skip
    server = servers.get_server(session, caller, server_id)
    addresses = addresses_of(session, [server])[server.id]
    return {"server": render_server(server, addresses, deps, version, caller)}


@router.delete("/servers/{server_id}", status_code=204, summary="Delete a server")
def delete_server(server_id: str, caller: Caller, session: Db, deps: Deps) -> Response:
    servers.delete(session, caller, server_id, boot_tools(deps), deps.clock())
    return Response(status_code=204)


def _render_action(a: InstanceAction) -> dict[str, Any]:
    return {"action": a.action, "instance_uuid": a.server_id, "request_id": a.request_id,
            "user_id": a.user_id, "project_id": a.project_id, "start_time": iso(a.start_time),
            "message": a.message}  # fmt: skip


@router.get("/servers/{server_id}/os-instance-actions", summary="What was done to a server")
def list_actions(server_id: str, caller: Caller, session: Db) -> dict[str, Any]:
    server = servers.get_server(session, caller, server_id)
    rows = session.scalars(select(InstanceAction).where(InstanceAction.server_id == server.id)
                           .order_by(InstanceAction.start_time))  # fmt: skip
    return {"instanceActions": [_render_action(a) for a in rows]}


@router.get("/servers/{server_id}/os-instance-actions/{request_id}",
            summary="One action on a server, by its request id")  # fmt: skip
def show_action(server_id: str, request_id: str, caller: Caller, session: Db,
                version: Microversion) -> dict[str, Any]:  # fmt: skip
    server = servers.get_server(session, caller, server_id)
    query = (select(InstanceAction)
             .where(InstanceAction.server_id == server.id,
                    InstanceAction.request_id == request_id)
             .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc()))  # fmt: skip
    action = session.scalars(query).first()
    if action is None:  # Nova's own wording for this 404
        raise NotFound(f"Action {request_id} not found", kind="InstanceActionNotFound")
    body = _render_action(action)
    # Nova shows events to admins at every microversion and to the owner from 2.51.
    # vfplane records no per-action events, so the list is always empty.
    if caller.is_admin_or_service or version >= APIVersion(2, 51):
        body["events"] = []
    return {"instanceAction": body}
