"""Glance v2 under ``/image``: thin handlers over ``service.images``.

Images are records whose disk is at ``location`` (a vfplane extension: a path or
URL); there is no upload, so ``PUT /v2/images/{id}/file`` answers 501.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.deps import Caller, Db, Deps
from vfplane.db.tables import Image
from vfplane.errors import ApiError, InvalidInput
from vfplane.service import images as service
from vfplane.service.context import RequestContext

router = APIRouter(prefix="/image", tags=["image"])

PATCH_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)


class UnsupportedMediaType(ApiError):
    status = 415


class NotImplementedFault(ApiError):
    status = 501


class ImageCreate(BaseModel):
    """Glance's create body: known attributes, plus string properties (checked by the service)."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(None, max_length=255)
    id: str | None = None
    visibility: str = "shared"
    disk_format: str | None = None
    container_format: str | None = None
    min_disk: int = Field(0, ge=0, le=2**31 - 1)
    min_ram: int = Field(0, ge=0, le=2**31 - 1)
    tags: list[Annotated[str, Field(max_length=255)]] = Field(default_factory=list)
    protected: bool = False
    os_hidden: bool = False
    location: str | None = Field(None, max_length=65535)
    owner: str | None = None


def _iso(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def render_image(image: Image, context: RequestContext) -> dict[str, Any]:
    """Glance's image: properties at the top level; ``location`` for its owner and admins."""
    body: dict[str, Any] = dict(image.properties)
    body.update(
        id=image.id,
        name=image.name,
        status=image.status,
        visibility=image.visibility,
        protected=bool(image.properties.get("protected", False)),
        os_hidden=bool(image.properties.get("os_hidden", False)),
        disk_format=image.disk_format,
        container_format=image.container_format,
        size=image.size,
        virtual_size=None,
        checksum=None,
        os_hash_algo=None,
        os_hash_value=None,
        min_disk=image.min_disk,
        min_ram=image.min_ram,
        owner=image.owner,
        tags=list(image.tags),
        created_at=_iso(image.created_at),
        updated_at=_iso(image.updated_at),
        self=f"/v2/images/{image.id}",
        file=f"/v2/images/{image.id}/file",
        schema="/v2/schemas/image",
    )
    if context.is_admin or image.owner == context.project_id:
        body["location"] = image.location
    return body


def versions_document(base: str) -> dict[str, Any]:
    return {
        "versions": [
            {
                "id": "v2.17",
                "status": "CURRENT",
                "links": [{"rel": "self", "href": f"{base}/image/v2/"}],
            }
        ]
    }


@router.get("", summary="List image API versions", status_code=300)
@router.get("/", include_in_schema=False)
@router.get("/v2", include_in_schema=False)
@router.get("/v2/", include_in_schema=False)
def list_versions(deps: Deps) -> JSONResponse:
    return JSONResponse(versions_document(deps.public_base), status_code=300)


def _any_of(raw: str | None) -> list[str] | None:
    """Glance's ``in:a,b`` operator, or a single value."""
    if raw is None:
        return None
    if raw.startswith("in:"):
        return [part.strip().strip('"') for part in raw[3:].split(",") if part.strip()]
    return [raw]


def _filters(request: Request) -> service.ImageFilters:
    params = request.query_params
    return service.ImageFilters(
        ids=_any_of(params.get("id")),
        names=_any_of(params.get("name")),
        visibility=params.get("visibility"),
        status=params.get("status"),
        owner=params.get("owner"),
        tags=params.getlist("tag"),
    )


def _page(request: Request, images: list[Image]) -> tuple[list[Image], str | None]:
    params = request.query_params
    marker = params.get("marker")
    if marker:
        ids = [i.id for i in images]
        if marker not in ids:
            raise InvalidInput(f"Invalid marker. Image {marker} could not be found.")
        images = images[ids.index(marker) + 1 :]
    raw = params.get("limit")
    try:
        limit = int(raw) if raw else None
    except ValueError:
        raise InvalidInput(f"Invalid limit value: {raw}") from None
    if limit is None or limit < 0 or len(images) <= limit:
        return images, None
    query = [(k, v) for k, v in params.multi_items() if k != "marker"]
    query.append(("marker", images[limit - 1].id))
    return images[:limit], f"/v2/images?{urlencode(query)}"


@router.get("/v2/images", summary="List images")
def list_images(request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    images, next_href = _page(request, service.list_images(session, caller, _filters(request)))
    body: dict[str, Any] = {
        "images": [render_image(i, caller) for i in images],
        "first": "/v2/images",
        "schema": "/v2/schemas/images",
    }
    if next_href:
        body["next"] = next_href
    return body


@router.get("/v2/images/{image_id}", summary="Show an image")
def show_image(image_id: str, caller: Caller, session: Db) -> dict[str, Any]:
    return render_image(service.get_image(session, caller, image_id), caller)


@router.post("/v2/images", status_code=201, summary="Create an image (a record with a location)")
def create_image(
    body: ImageCreate, caller: Caller, session: Db, deps: Deps, response: Response
) -> dict[str, Any]:
    image_request = service.ImageRequest(
        name=body.name,
        id=body.id,
        visibility=body.visibility,
        disk_format=body.disk_format,
        container_format=body.container_format,
        min_disk=body.min_disk,
        min_ram=body.min_ram,
        tags=body.tags,
        protected=body.protected,
        os_hidden=body.os_hidden,
        location=body.location,
        owner=body.owner,
        properties=dict(body.model_extra or {}),
    )
    image = service.create_image(session, caller, image_request, deps.clock())
    response.headers["Location"] = f"{deps.public_base}/image/v2/images/{image.id}"
    return render_image(image, caller)


async def patch_operations(request: Request) -> list[service.PatchOperation]:
    """The JSON-patch body, which FastAPI does not parse (its media type is not JSON)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    if media_type not in PATCH_TYPES:
        raise UnsupportedMediaType(
            f"Unsupported Content-Type '{media_type}': use {PATCH_TYPES[0]}",
            kind="HTTPUnsupportedMediaType",
        )
    try:
        document = json.loads(await request.body())
    except ValueError:
        raise InvalidInput("The request body is not valid JSON") from None
    if not isinstance(document, list):
        raise InvalidInput("A JSON patch is a list of operations")
    operations = []
    for entry in document:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise InvalidInput(f"Invalid JSON patch operation: {json.dumps(entry)}")
        if entry.get("op") in ("add", "replace") and "value" not in entry:
            raise InvalidInput(f"Operation {entry['op']} on {entry['path']} needs a value")
        operations.append(service.PatchOperation(str(entry.get("op")), entry["path"],
                                                 entry.get("value")))  # fmt: skip
    return operations


Patch = Annotated[list[service.PatchOperation], Depends(patch_operations)]


@router.patch("/v2/images/{image_id}", summary="Update an image with a JSON patch")
def update_image(
    image_id: str, operations: Patch, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    image = service.update_image(session, caller, image_id, operations, deps.clock())
    return render_image(image, caller)


@router.delete("/v2/images/{image_id}", status_code=204, summary="Delete an image")
def delete_image(image_id: str, caller: Caller, session: Db) -> Response:
    service.delete_image(session, caller, image_id)
    return Response(status_code=204)


async def carries_data(request: Request) -> bool:
    """Whether an upload has any bytes; reading stops at the first non-empty chunk."""
    async for chunk in request.stream():
        if chunk:
            return True
    return False


@router.put("/v2/images/{image_id}/file", summary="Upload image data (not supported)")
def upload_image(
    image_id: str, caller: Caller, session: Db, data: Annotated[bool, Depends(carries_data)]
) -> Response:
    """501, except that an empty upload to an image with a location is a no-op.

    ``openstack image create`` uploads its stdin whenever stdin is not a
    terminal (scripts, CI), even when it is empty; that must not fail.
    """
    image = service.get_image(session, caller, image_id)
    if not data and image.location:
        return Response(status_code=204)
    raise NotImplementedFault(
        "vfplane stores no image data: register the disk's path or URL instead, with "
        "'location' in the create body (openstack image create --property location=/path/to/"
        "disk.qcow2 ...) or a JSON patch replacing /location.",
        kind="HTTPNotImplemented",
    )
