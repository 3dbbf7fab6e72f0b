"""``/network/v2.0/ports/{id}/bindings``: extended bindings (admin and service only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.deps import Caller, Db, Deps
from vfplane.api.network.common import collection, single
from vfplane.db.tables import PortBinding
from vfplane.domain.networks import VnicType
from vfplane.service import port_bindings as service

router = APIRouter(tags=["network: port bindings"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BindingCreate(_Body):
    host: str = Field(min_length=1, max_length=255)
    vnic_type: VnicType | None = None
    profile: dict[str, Any] | None = None


class BindingCreateBody(_Body):
    binding: BindingCreate


def render_binding(binding: PortBinding) -> dict[str, Any]:
    return {
        "host": binding.host,
        "vnic_type": binding.vnic_type,
        "profile": dict(binding.profile or {}),
        "vif_type": binding.vif_type,
        "vif_details": dict(binding.vif_details or {}),
        "status": binding.status,
    }


@router.get("/ports/{port_id}/bindings", summary="List a port's bindings")
def list_bindings(port_id: str, request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    items = [render_binding(b) for b in service.list_bindings(session, caller, port_id)]
    return collection(request, "bindings", items)


@router.get("/ports/{port_id}/bindings/{host}", summary="Show a port's binding on a host")
def show_binding(
    port_id: str, host: str, request: Request, caller: Caller, session: Db
) -> dict[str, Any]:
    binding = service.get_binding(session, caller, port_id, host)
    return single(request, "binding", render_binding(binding))


@router.post("/ports/{port_id}/bindings", status_code=201, summary="Bind a port on a host")
def create_binding(
    port_id: str, body: BindingCreateBody, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    given = body.binding
    binding_request = service.BindingRequest(given.host, given.vnic_type, given.profile)
    binding = service.create_binding(
        session, caller, port_id, binding_request, deps.binding, deps.clock()
    )
    return {"binding": render_binding(binding)}


@router.put("/ports/{port_id}/bindings/{host}/activate", summary="Activate a binding")
def activate_binding(
    port_id: str, host: str, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    binding = service.activate_binding(session, caller, port_id, host, deps.clock())
    return {"binding": render_binding(binding)}


@router.delete("/ports/{port_id}/bindings/{host}", status_code=204, summary="Delete a binding")
def delete_binding(port_id: str, host: str, caller: Caller, session: Db) -> Response:
    service.delete_binding(session, caller, port_id, host)
    return Response(status_code=204)
