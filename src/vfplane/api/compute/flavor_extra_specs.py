"""``/compute/v2.1/flavors/{id}/os-extra_specs``: thin handlers over ``service.flavors``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from vfplane.api.compute.microversion import ComputeRoute
from vfplane.api.deps import Caller, Db, Deps
from vfplane.errors import InvalidInput
from vfplane.service import flavors as service

router = APIRouter(tags=["compute: flavor extra specs"], route_class=ComputeRoute)

SpecValue = str | int | float | bool


class ExtraSpecsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extra_specs: dict[str, SpecValue]


def _strings(specs: dict[str, SpecValue]) -> dict[str, str]:
    """Nova stores numbers (and booleans) as their string forms."""
    return {key: value if isinstance(value, str) else str(value) for key, value in specs.items()}


@router.get("/flavors/{flavor_id}/os-extra_specs", summary="List a flavor's extra specs")
def list_extra_specs(flavor_id: str, caller: Caller, session: Db) -> dict[str, Any]:
    return {"extra_specs": service.get_extra_specs(session, caller, flavor_id)}


@router.post("/flavors/{flavor_id}/os-extra_specs", summary="Set extra specs (admin)")
def set_extra_specs(
    flavor_id: str, body: ExtraSpecsBody, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    specs = service.set_extra_specs(
        session, caller, flavor_id, _strings(body.extra_specs), deps.aliases
    )
    return {"extra_specs": specs}


@router.get("/flavors/{flavor_id}/os-extra_specs/{key}", summary="Show one extra spec")
def show_extra_spec(flavor_id: str, key: str, caller: Caller, session: Db) -> dict[str, Any]:
    return {key: service.get_extra_spec(session, caller, flavor_id, key)}


@router.put("/flavors/{flavor_id}/os-extra_specs/{key}", summary="Set one extra spec (admin)")
def update_extra_spec(
    flavor_id: str, key: str, body: dict[str, SpecValue], caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    if key not in body:
        raise InvalidInput("Request body and URI mismatch")
    if len(body) > 1:
        raise InvalidInput("Request body contains too many items")
    specs = service.set_extra_specs(session, caller, flavor_id, _strings(body), deps.aliases)
    return {key: specs[key]}


@router.delete("/flavors/{flavor_id}/os-extra_specs/{key}", summary="Unset an extra spec (admin)")
def delete_extra_spec(flavor_id: str, key: str, caller: Caller, session: Db) -> Response:
    service.delete_extra_spec(session, caller, flavor_id, key)
    return Response(status_code=200)
