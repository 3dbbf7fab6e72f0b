"""Nova v2.1 under ``/compute``: version discovery here, one module per resource."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vfplane.api.compute import (
    flavor_access,
    flavor_extra_specs,
    flavors,
    server_actions,
    servers,
)
from vfplane.api.compute.microversion import MAX_VERSION, MIN_VERSION, ComputeRoute
from vfplane.api.deps import Deps

router = APIRouter(prefix="/compute", route_class=ComputeRoute)

UPDATED = "2013-07-23T11:33:21Z"


def version_document(base: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": str(MAX_VERSION),
        "min_version": str(MIN_VERSION),
        "updated": UPDATED,
        "links": [
            {"rel": "self", "href": f"{base}/compute/v2.1/"},
            {
                "rel": "describedby",
                "type": "text/html",
                "href": "https://docs.openstack.org/",
            },
        ],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


@router.get("", tags=["compute"], summary="List compute API versions")
@router.get("/", include_in_schema=False)
def list_versions(deps: Deps) -> dict[str, Any]:
    return {"versions": [version_document(deps.public_base)]}


@router.get("/v2.1", tags=["compute"], summary="Show the compute API version")
@router.get("/v2.1/", include_in_schema=False)
def show_version(deps: Deps) -> dict[str, Any]:
    return {"version": version_document(deps.public_base)}


router.include_router(flavors.router, prefix="/v2.1")
router.include_router(flavor_extra_specs.router, prefix="/v2.1")
router.include_router(flavor_access.router, prefix="/v2.1")
router.include_router(servers.router, prefix="/v2.1")
router.include_router(server_actions.router, prefix="/v2.1")
