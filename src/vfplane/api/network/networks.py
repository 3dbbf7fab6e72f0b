"""``/network/v2.0/networks``: thin handlers over ``service.networks``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.deps import Caller, Db, Deps
from vfplane.api.network.common import changed, collection, iso, single
from vfplane.db.tables import Network
from vfplane.service import networks as service
from vfplane.service.context import RequestContext

router = APIRouter(tags=["network: networks"])

PORT_PROFILE = "vfplane:port_profile"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NetworkCreate(_Body):
    name: str = Field("", max_length=255)
    description: str = Field("", max_length=1024)
    admin_state_up: bool = True
    shared: bool = False
    mtu: int | None = Field(None, ge=68, le=9216)
    network_type: str | None = Field(None, alias="provider:network_type")
    physical_network: str | None = Field(
        None, alias="provider:physical_network", min_length=1, max_length=64
    )
    segmentation_id: int | None = Field(None, alias="provider:segmentation_id")
    port_profile: str | None = Field(
        None, alias="vfplane:port_profile", min_length=1, max_length=39
    )
    qos_policy_id: str | None = None
    project_id: str | None = None
    tenant_id: str | None = None
    availability_zone_hints: list[str] | None = None
    port_security_enabled: bool | None = None
    router_external: bool | None = Field(None, alias="router:external")


class NetworkUpdate(_Body):
    name: str | None = Field(None, max_length=255)
    description: str | None = Field(None, max_length=1024)
    admin_state_up: bool | None = None
    shared: bool | None = None
    mtu: int | None = Field(None, ge=68, le=9216)
    port_profile: str | None = Field(None, alias="vfplane:port_profile", max_length=39)
    qos_policy_id: str | None = None


class NetworkCreateBody(_Body):
    network: NetworkCreate


class NetworkUpdateBody(_Body):
    network: NetworkUpdate


def render_network(network: Network, context: RequestContext) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": network.id,
        "name": network.name,
        "description": network.description,
        "project_id": network.project_id,
        "tenant_id": network.project_id,
        "admin_state_up": network.admin_state_up,
        "status": network.status,
        "subnets": [s.id for s in network.subnets],
        "shared": network.shared,
        "mtu": network.mtu,
        "router:external": False,
        "port_security_enabled": True,
        "availability_zones": ["nova"],
        "availability_zone_hints": [],
        "qos_policy_id": network.qos_policy_id,
        PORT_PROFILE: network.port_profile,
        "tags": [],
        "created_at": iso(network.created_at),
        "updated_at": iso(network.updated_at),
        "revision_number": network.revision_number,
    }
    if context.is_admin_or_service:
        body["provider:network_type"] = network.network_type
        body["provider:physical_network"] = network.physical_network
        body["provider:segmentation_id"] = network.segmentation_id
    return body


@router.get("/networks", summary="List networks")
def list_networks(request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    items = [render_network(n, caller) for n in service.list_networks(session, caller)]
    return collection(request, "networks", items)


@router.get("/networks/{network_id}", summary="Show a network")
def show_network(network_id: str, request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    network = service.get_network(session, caller, network_id)
    return single(request, "network", render_network(network, caller))


@router.post("/networks", status_code=201, summary="Create a network")
def create_network(
    body: NetworkCreateBody, request: Request, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    given = body.network
    network_request = service.NetworkRequest(
        name=given.name,
        description=given.description,
        admin_state_up=given.admin_state_up,
        shared=given.shared,
        mtu=given.mtu,
        network_type=given.network_type,
        physical_network=given.physical_network,
        segmentation_id=given.segmentation_id,
        port_profile=given.port_profile,
        qos_policy_id=given.qos_policy_id,
        project_id=given.project_id or given.tenant_id,
    )
    network = service.create_network(
        session, caller, network_request, deps.network_config, deps.clock()
    )
    return single(request, "network", render_network(network, caller))


@router.put("/networks/{network_id}", summary="Update a network")
def update_network(
    network_id: str,
    body: NetworkUpdateBody,
    request: Request,
    caller: Caller,
    session: Db,
    deps: Deps,
) -> dict[str, Any]:
    network = service.update_network(
        session, caller, network_id, changed(body.network), deps.clock()
    )
    return single(request, "network", render_network(network, caller))


@router.delete("/networks/{network_id}", status_code=204, summary="Delete a network")
def delete_network(network_id: str, caller: Caller, session: Db) -> Response:
    service.delete_network(session, caller, network_id)
    return Response(status_code=204)
