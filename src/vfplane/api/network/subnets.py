"""``/network/v2.0/subnets``: thin handlers over ``service.subnets``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.deps import Caller, Db, Deps
from vfplane.api.network.common import changed, collection, iso, single
from vfplane.db.tables import Subnet
from vfplane.service import subnets as service

router = APIRouter(tags=["network: subnets"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AllocationPool(_Body):
    start: str
    end: str


class HostRoute(_Body):
    destination: str
    nexthop: str


class SubnetCreate(_Body):
    network_id: str
    ip_version: int = 4
    cidr: str
    name: str = Field("", max_length=255)
    description: str = Field("", max_length=1024)
    gateway_ip: str | None = Field("", description="null: no gateway; omitted: first host")
    allocation_pools: list[AllocationPool] | None = None
    dns_nameservers: list[str] = Field(default_factory=list)
    host_routes: list[HostRoute] = Field(default_factory=list)
    enable_dhcp: bool = True
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None
    project_id: str | None = None
    tenant_id: str | None = None
    service_types: list[str] | None = None
    use_default_subnetpool: bool | None = None


class SubnetUpdate(_Body):
    name: str | None = Field(None, max_length=255)
    description: str | None = Field(None, max_length=1024)
    gateway_ip: str | None = None
    allocation_pools: list[AllocationPool] | None = None
    dns_nameservers: list[str] | None = None
    host_routes: list[HostRoute] | None = None
    enable_dhcp: bool | None = None


class SubnetCreateBody(_Body):
    subnet: SubnetCreate


class SubnetUpdateBody(_Body):
    subnet: SubnetUpdate


def render_subnet(subnet: Subnet) -> dict[str, Any]:
    return {
        "id": subnet.id,
        "name": subnet.name,
        "description": subnet.description,
        "network_id": subnet.network_id,
        "project_id": subnet.project_id,
        "tenant_id": subnet.project_id,
        "ip_version": subnet.ip_version,
        "cidr": subnet.cidr,
        "gateway_ip": subnet.gateway_ip,
        "allocation_pools": list(subnet.allocation_pools),
        "dns_nameservers": list(subnet.dns_nameservers),
        "host_routes": list(subnet.host_routes),
        "enable_dhcp": subnet.enable_dhcp,
        "ipv6_ra_mode": subnet.ipv6_ra_mode,
        "ipv6_address_mode": subnet.ipv6_address_mode,
        "service_types": [],
        "subnetpool_id": None,
        "segment_id": None,
        "tags": [],
        "created_at": iso(subnet.created_at),
        "updated_at": iso(subnet.updated_at),
        "revision_number": subnet.revision_number,
    }


@router.get("/subnets", summary="List subnets")
def list_subnets(request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    items = [render_subnet(s) for s in service.list_subnets(session, caller)]
    return collection(request, "subnets", items)


@router.get("/subnets/{subnet_id}", summary="Show a subnet")
def show_subnet(subnet_id: str, request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    return single(request, "subnet", render_subnet(service.get_subnet(session, caller, subnet_id)))


@router.post("/subnets", status_code=201, summary="Create a subnet")
def create_subnet(
    body: SubnetCreateBody, request: Request, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    given = body.subnet
    gateway: Any = given.gateway_ip if "gateway_ip" in given.model_fields_set else service._UNSET
    subnet_request = service.SubnetRequest(
        network_id=given.network_id,
        ip_version=given.ip_version,
        cidr=given.cidr,
        name=given.name,
        description=given.description,
        gateway_ip=gateway,
        allocation_pools=[p.model_dump() for p in given.allocation_pools]
        if given.allocation_pools is not None
        else None,
        dns_nameservers=given.dns_nameservers,
        host_routes=[r.model_dump() for r in given.host_routes],
        enable_dhcp=given.enable_dhcp,
        ipv6_ra_mode=given.ipv6_ra_mode,
        ipv6_address_mode=given.ipv6_address_mode,
        project_id=given.project_id or given.tenant_id,
    )
    subnet = service.create_subnet(session, caller, subnet_request, deps.clock())
    return single(request, "subnet", render_subnet(subnet))


@router.put("/subnets/{subnet_id}", summary="Update a subnet")
def update_subnet(
    subnet_id: str,
    body: SubnetUpdateBody,
    request: Request,
    caller: Caller,
    session: Db,
    deps: Deps,
) -> dict[str, Any]:
    changes = changed(body.subnet)
    for key in ("allocation_pools", "host_routes"):
        if changes.get(key) is not None:
            changes[key] = [item.model_dump() for item in changes[key]]
    subnet = service.update_subnet(session, caller, subnet_id, changes, deps.clock())
    return single(request, "subnet", render_subnet(subnet))


@router.delete("/subnets/{subnet_id}", status_code=204, summary="Delete a subnet")
def delete_subnet(subnet_id: str, caller: Caller, session: Db) -> Response:
    service.delete_subnet(session, caller, subnet_id)
    return Response(status_code=204)
