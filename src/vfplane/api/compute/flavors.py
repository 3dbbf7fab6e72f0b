"""``/compute/v2.1/flavors``: thin handlers over ``service.flavors``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.compute.microversion import APIVersion, ComputeRoute, Microversion
from vfplane.api.deps import Caller, Db, Deps
from vfplane.db.tables import Flavor
from vfplane.errors import InvalidInput
from vfplane.service import flavors as service

router = APIRouter(tags=["compute: flavors"], route_class=ComputeRoute)

MAX_INT = 2**31 - 1
DESCRIPTION_VERSION = APIVersion(2, 55)
EXTRA_SPECS_VERSION = APIVersion(2, 61)
INTEGER_SWAP_VERSION = APIVersion(2, 75)
_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FlavorCreate(_Body):
    name: str = Field(max_length=255)
    ram: int = Field(le=MAX_INT)
    vcpus: int = Field(le=MAX_INT)
    disk: int = Field(le=MAX_INT)
    id: str | int | None = None
    swap: int = Field(0, le=MAX_INT)
    ephemeral: int = Field(0, alias="OS-FLV-EXT-DATA:ephemeral", le=MAX_INT)
    rxtx_factor: float = Field(1.0, le=3.40282e38)
    is_public: bool = Field(True, alias="os-flavor-access:is_public")
    description: str | None = Field(None, max_length=65535)


class FlavorCreateBody(_Body):
    flavor: FlavorCreate


def _links(base: str, flavor_id: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/flavors/{flavor_id}"},
        {"rel": "bookmark", "href": f"{base}/compute/flavors/{flavor_id}"},
    ]


def render_flavor(flavor: Flavor, version: APIVersion, base: str) -> dict[str, Any]:
    """Nova's detailed flavor at ``version``."""
    body: dict[str, Any] = {
        "id": flavor.id,
        "name": flavor.name,
        "ram": flavor.ram,
        "vcpus": flavor.vcpus,
        "disk": flavor.disk,
        "swap": flavor.swap if flavor.swap or version >= INTEGER_SWAP_VERSION else "",
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral,
        "OS-FLV-DISABLED:disabled": flavor.disabled,
        "rxtx_factor": flavor.rxtx_factor,
        "os-flavor-access:is_public": flavor.is_public,
        "links": _links(base, flavor.id),
    }
    if version >= DESCRIPTION_VERSION:
        body["description"] = flavor.description
    if version >= EXTRA_SPECS_VERSION:
        body["extra_specs"] = flavor.specs
    return body


def render_summary(flavor: Flavor, version: APIVersion, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": flavor.id, "name": flavor.name, "links": _links(base, flavor.id)}
    if version >= DESCRIPTION_VERSION:
        body["description"] = flavor.description
    return body


def _is_public(raw: str | None) -> bool | None:
    """Nova's ``is_public``: absent → True, ``none`` → all, else a strict boolean."""
    if raw is None:
        return True
    if raw.lower() == "none":
        return None
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise InvalidInput(f"Invalid is_public filter [{raw}]")


def _int_filter(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"Invalid {name} filter [{raw}]") from None


def _page(request: Request, flavors: list[Flavor]) -> tuple[list[Flavor], list[dict[str, str]]]:
    marker = request.query_params.get("marker")
    if marker:
        ids = [f.id for f in flavors]
        if marker not in ids:
            raise InvalidInput(f"marker [{marker}] not found", kind="MarkerNotFound")
        flavors = flavors[ids.index(marker) + 1 :]
    limit = _int_filter(request, "limit")
    if limit is None or limit <= 0 or len(flavors) <= limit:
        return flavors, []
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    params.append(("marker", flavors[limit - 1].id))
    href = str(request.url.replace(query=urlencode(params)))
    return flavors[:limit], [{"rel": "next", "href": href}]


def _listed(request: Request, caller: Caller, session: Db) -> tuple[list[Flavor], dict[str, Any]]:
    flavors = service.list_flavors(
        session,
        caller,
        _is_public(request.query_params.get("is_public")),
        _int_filter(request, "minRam"),
        _int_filter(request, "minDisk"),
    )
    page, links = _page(request, flavors)
    return page, ({"flavors_links": links} if links else {})


@router.get("/flavors", summary="List flavors")
def list_flavors(
    request: Request, caller: Caller, session: Db, deps: Deps, version: Microversion
) -> dict[str, Any]:
    page, links = _listed(request, caller, session)
    return {"flavors": [render_summary(f, version, deps.public_base) for f in page], **links}


@router.get("/flavors/detail", summary="List flavors with details")
def list_flavors_detail(
    request: Request, caller: Caller, session: Db, deps: Deps, version: Microversion
) -> dict[str, Any]:
    page, links = _listed(request, caller, session)
    return {"flavors": [render_flavor(f, version, deps.public_base) for f in page], **links}


@router.get("/flavors/{flavor_id}", summary="Show a flavor")
def show_flavor(
    flavor_id: str, caller: Caller, session: Db, deps: Deps, version: Microversion
) -> dict[str, Any]:
    flavor = service.get_flavor(session, caller, flavor_id)
    return {"flavor": render_flavor(flavor, version, deps.public_base)}


@router.post("/flavors", summary="Create a flavor (admin)")
def create_flavor(
    body: FlavorCreateBody, caller: Caller, session: Db, deps: Deps, version: Microversion
) -> dict[str, Any]:
    given = body.flavor
    flavor_request = service.FlavorRequest(
        name=given.name,
        vcpus=given.vcpus,
        ram=given.ram,
        disk=given.disk,
        swap=given.swap,
        ephemeral=given.ephemeral,
        rxtx_factor=given.rxtx_factor,
        is_public=given.is_public,
        description=given.description,
        id=None if given.id is None else str(given.id),
    )
    flavor = service.create_flavor(session, caller, flavor_request, deps.clock())
    return {"flavor": render_flavor(flavor, version, deps.public_base)}


@router.delete("/flavors/{flavor_id}", status_code=202, summary="Delete a flavor (admin)")
def delete_flavor(flavor_id: str, caller: Caller, session: Db) -> Response:
    service.delete_flavor(session, caller, flavor_id)
    return Response(status_code=202)
