"""``/compute/v2.1/flavors/{id}/os-flavor-access`` and the tenant access actions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.compute.microversion import ComputeRoute
from vfplane.api.deps import Caller, Db
from vfplane.errors import InvalidInput
from vfplane.service import flavors as service

router = APIRouter(tags=["compute: flavor access"], route_class=ComputeRoute)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TenantAccess(_Body):
    tenant: str = Field(min_length=1, max_length=255)


class FlavorAction(_Body):
    add: TenantAccess | None = Field(None, alias="addTenantAccess")
    remove: TenantAccess | None = Field(None, alias="removeTenantAccess")


def render_access(flavor_id: str, projects: list[str]) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]}


@router.get("/flavors/{flavor_id}/os-flavor-access", summary="List projects of a private flavor")
def list_flavor_access(flavor_id: str, caller: Caller, session: Db) -> dict[str, Any]:
    return render_access(flavor_id, service.list_access(session, caller, flavor_id))


@router.post("/flavors/{flavor_id}/action", summary="Add or remove project access (admin)")
def flavor_action(
    flavor_id: str, body: FlavorAction, caller: Caller, session: Db
) -> dict[str, Any]:
    if (body.add is None) == (body.remove is None):
        raise InvalidInput("The action must be one of addTenantAccess or removeTenantAccess")
    if body.add is not None:
        projects = service.add_access(session, caller, flavor_id, body.add.tenant)
    else:
        assert body.remove is not None
        projects = service.remove_access(session, caller, flavor_id, body.remove.tenant)
    return render_access(flavor_id, projects)
