"""``/network/v2.0/ports``: thin handlers over ``service.ports``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.deps import Caller, Db, Deps
from vfplane.api.network.common import collection, iso, single
from vfplane.db.tables import Port
from vfplane.domain.networks import VnicType
from vfplane.errors import InvalidInput
from vfplane.service import ports as service
from vfplane.service import server_interfaces
from vfplane.service.context import RequestContext
from vfplane.service.ipam import FixedIpRequest
from vfplane.service.port_bindings import current_binding

router = APIRouter(tags=["network: ports"])

# body attribute name -> service attribute name
BINDING_ALIASES = {
    "binding_host_id": "host",
    "binding_profile": "profile",
    "vnic_type": "vnic_type",
}
READ_ONLY = {"vif_type": "binding:vif_type", "vif_details": "binding:vif_details"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FixedIp(_Body):
    subnet_id: str | None = Field(None, max_length=36)
    ip_address: str | None = Field(None, max_length=64)

    def request(self) -> FixedIpRequest:
        return FixedIpRequest(self.subnet_id, self.ip_address)


class _PortAttributes(_Body):
    vif_type: Any = Field(None, alias="binding:vif_type")
    vif_details: Any = Field(None, alias="binding:vif_details")
    binding_profile: dict[str, Any] | None = Field(None, alias="binding:profile")

    def check_read_only(self) -> None:
        for name, attribute in READ_ONLY.items():
            if name in self.model_fields_set:
                raise InvalidInput(f"Invalid input for {attribute}: the attribute is read-only")


class PortCreate(_PortAttributes):
    network_id: str = Field(max_length=36)
    name: str = Field("", max_length=255)
    description: str = Field("", max_length=1024)
    admin_state_up: bool = True
    mac_address: str | None = None
    fixed_ips: list[FixedIp] | None = None
    device_id: str = Field("", max_length=255)
    device_owner: str = Field("", max_length=255)
    port_security_enabled: bool | None = None
    qos_policy_id: str | None = Field(None, max_length=36)
    trusted: bool | None = None
    propagate_uplink_status: bool = False
    project_id: str | None = None
    tenant_id: str | None = None
    vnic_type: VnicType = Field(VnicType.NORMAL, alias="binding:vnic_type")
    binding_host_id: str | None = Field(None, alias="binding:host_id", max_length=255)

    def request(self) -> service.PortRequest:
        self.check_read_only()
        fixed_ips = None if self.fixed_ips is None else tuple(f.request() for f in self.fixed_ips)
        return service.PortRequest(
            network_id=self.network_id,
            name=self.name,
            description=self.description,
            admin_state_up=self.admin_state_up,
            mac_address=self.mac_address,
            fixed_ips=fixed_ips,
            device_id=self.device_id,
            device_owner=self.device_owner,
            port_security_enabled=self.port_security_enabled,
            qos_policy_id=self.qos_policy_id,
            trusted=self.trusted,
            propagate_uplink_status=self.propagate_uplink_status,
            project_id=self.project_id or self.tenant_id,
            vnic_type=self.vnic_type,
            host=self.binding_host_id,
            profile=self.binding_profile,
            profile_given="binding_profile" in self.model_fields_set,
        )


class PortUpdate(_PortAttributes):
    name: str | None = Field(None, max_length=255)
    description: str | None = Field(None, max_length=1024)
    admin_state_up: bool | None = None
    fixed_ips: list[FixedIp] | None = None
    device_id: str | None = Field(None, max_length=255)
    device_owner: str | None = Field(None, max_length=255)
    port_security_enabled: bool | None = None
    qos_policy_id: str | None = Field(None, max_length=36)
    trusted: bool | None = None
    propagate_uplink_status: bool | None = None
    vnic_type: VnicType | None = Field(None, alias="binding:vnic_type")
    binding_host_id: str | None = Field(None, alias="binding:host_id", max_length=255)

    def changes(self) -> dict[str, Any]:
        self.check_read_only()
        result: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "fixed_ips":
                value = [f.request() for f in value or []]
            if name == "vnic_type" and value is None:
                raise InvalidInput("Invalid input for binding:vnic_type: null is not allowed")
            if name in ("name", "description", "device_id", "device_owner") and value is None:
                value = ""
            result[BINDING_ALIASES.get(name, name)] = value
        return result


class PortCreateBody(_Body):
    port: PortCreate


class PortUpdateBody(_Body):
    port: PortUpdate


def _binding_attributes(port: Port, context: RequestContext) -> dict[str, Any]:
    binding = current_binding(port)
    body: dict[str, Any] = {
        "binding:vnic_type": binding.vnic_type if binding else "normal",
        # Members may not read the profile; an empty object (not a missing key) lets the
        # CLI's merge in `port set --binding-profile` run and get the server's clear 403.
        "binding:profile": {},
    }
    if context.is_admin_or_service:
        body["binding:host_id"] = binding.host if binding else ""
        body["binding:profile"] = dict(binding.profile or {}) if binding else {}
        body["binding:vif_type"] = binding.vif_type if binding else "unbound"
        body["binding:vif_details"] = dict(binding.vif_details or {}) if binding else {}
        body["binding:failure_reasons"] = list(binding.failure_reasons or []) if binding else []
    return body


def render_port(port: Port, context: RequestContext) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": port.id,
        "name": port.name,
        "description": port.description,
        "network_id": port.network_id,
        "project_id": port.project_id,
        "tenant_id": port.project_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "fixed_ips": [
            {"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips
        ],
        "port_security_enabled": port.port_security_enabled,
        "qos_policy_id": port.qos_policy_id,
        "trusted": port.trusted,
        "propagate_uplink_status": port.propagate_uplink_status,
        "security_groups": [],
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "tags": [],
        "created_at": iso(port.created_at),
        "updated_at": iso(port.updated_at),
        "revision_number": port.revision_number,
    }
    body.update(_binding_attributes(port, context))
    return body


@router.get("/ports", summary="List ports")
def list_ports(request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    params = request.query_params
    filters = {key: params.getlist(key) for key in ("network_id", "device_id", "binding:host_id")}
    items = [render_port(p, caller) for p in service.list_ports(session, caller, filters)]
    return collection(request, "ports", items)


@router.get("/ports/{port_id}", summary="Show a port")
def show_port(port_id: str, request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    return single(request, "port", render_port(service.show_port(session, caller, port_id), caller))


@router.post("/ports", status_code=201, summary="Create a port")
def create_port(
    body: PortCreateBody, request: Request, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    config = deps.port_config
    port = service.create_port(
        session, caller, body.port.request(), config, deps.binding, deps.clock()
    )
    return single(request, "port", render_port(port, caller))


@router.put("/ports/{port_id}", summary="Update a port")
def update_port(
    port_id: str, body: PortUpdateBody, request: Request, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    port = service.update_port(
        session, caller, port_id, body.port.changes(), deps.binding, deps.clock()
    )
    return single(request, "port", render_port(port, caller))


@router.delete("/ports/{port_id}", status_code=204, summary="Delete a port")
def delete_port(port_id: str, caller: Caller, session: Db, deps: Deps) -> Response:
    server_interfaces.delete_port(session, caller, port_id, deps.clock())
    return Response(status_code=204)
