"""Image use cases: Glance v2 records whose disk is a path or URL, never an upload."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from vfplane.db.tables import Image
from vfplane.errors import Conflict, Forbidden, InvalidInput, NotFound
from vfplane.service.context import RequestContext

VISIBILITIES = ("public", "private", "shared", "community")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
STATUSES = ("queued", "saving", "active", "killed", "deleted", "pending_delete", "deactivated")
# Attributes the server owns: a create body or a patch naming one is refused, as Glance does.
READ_ONLY = frozenset({"id", "status", "size", "virtual_size", "checksum", "os_hash_algo",
                       "os_hash_value", "created_at", "updated_at", "self", "file", "schema",
                       "direct_url", "locations", "deleted", "deleted_at", "owner",
                       "stores"})  # fmt: skip
# Attributes with columns (or typed values) of their own; every other key is a string property.
CORE = frozenset({"name", "visibility", "disk_format", "container_format", "min_disk", "min_ram",
                  "tags", "protected", "os_hidden", "location"})  # fmt: skip
BOOLEAN_PROPERTIES = ("protected", "os_hidden")
MAX_PROPERTY_KEY = 255
MAX_PROPERTY_VALUE = 65535

DEFAULT_IMAGE_NAME = "cirros-0.6.2"
DEFAULT_IMAGE_FILE = "cirros-0.6.2-x86_64-disk.img"
DEFAULT_DATA_DIR = Path("vfplane-data")


@dataclass(frozen=True)
class ImageRequest:
    name: str | None = None
    id: str | None = None
    visibility: str = "shared"
    disk_format: str | None = None
    container_format: str | None = None
    min_disk: int = 0
    min_ram: int = 0
    tags: Sequence[str] = ()
    protected: bool = False
    os_hidden: bool = False
    location: str | None = None
    owner: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageFilters:
    """``ids``/``names``: any of them; ``visibility`` None is Glance's default listing."""

    ids: Sequence[str] | None = None
    names: Sequence[str] | None = None
    visibility: str | None = None
    status: str | None = None
    owner: str | None = None
    tags: Sequence[str] = ()


@dataclass(frozen=True)
class PatchOperation:
    """One JSON-patch operation on a top-level attribute (``path`` is "/<name>")."""

    op: str
    path: str
    value: Any = None


def visible_images(context: RequestContext) -> Select[Image]:
    """Admins see all; others public and community images and their project's own."""
    query = select(Image)
    if context.is_admin:
        return query
    shown = or_(Image.visibility.in_(("public", "community")), Image.owner == context.project_id)
    return query.where(shown)


def get_image(session: Session, context: RequestContext, image_id: str) -> Image:
    image = session.scalar(visible_images(context).where(Image.id == image_id))
    if image is None:
        raise NotFound(f"No image found with ID {image_id}", kind="ImageNotFound")
    return image


def _default_listing(query: Select[Image], context: RequestContext) -> Select[Image]:
    """Glance lists community images of other projects only when asked for them."""
    if context.is_admin:
        return query
    return query.where(or_(Image.visibility != "community", Image.owner == context.project_id))


def list_images(session: Session, context: RequestContext, filters: ImageFilters) -> list[Image]:
    query = visible_images(context)
    if filters.visibility is None:
        query = _default_listing(query, context)
    elif filters.visibility != "all":
        if filters.visibility not in VISIBILITIES:
            raise InvalidInput(f"Invalid visibility value: {filters.visibility}")
        query = query.where(Image.visibility == filters.visibility)
    if filters.ids is not None:
        query = query.where(Image.id.in_(filters.ids))
    if filters.names is not None:
        query = query.where(Image.name.in_(filters.names))
    if filters.status is not None:
        query = query.where(Image.status == filters.status)
    if filters.owner is not None:
        query = query.where(Image.owner == filters.owner)
    images = list(session.scalars(query.order_by(Image.created_at.desc(), Image.id)))
    return [i for i in images if all(tag in i.tags for tag in filters.tags)]


def _check_choice(name: str, value: str | None, choices: Sequence[str]) -> None:
    if value is not None and value not in choices:
        raise InvalidInput(f"Invalid value '{value}' for {name}: must be one of "
                           f"{', '.join(choices)}", kind="InvalidImageAttribute")  # fmt: skip


def _check_visibility(context: RequestContext, visibility: str) -> None:
    _check_choice("visibility", visibility, VISIBILITIES)
    if visibility == "public" and not context.is_admin:
        raise Forbidden("You are not authorized to complete publicize_image action.",
                        kind="PolicyNotAuthorized")  # fmt: skip


def check_properties(properties: Mapping[str, object]) -> None:
    """Extra properties are strings with short keys; server-owned names are read-only."""
    for key, value in properties.items():
        if key in READ_ONLY:
            raise Forbidden(f"Attribute '{key}' is read-only.", kind="ReadonlyProperty")
        if key in CORE:
            raise InvalidInput(f"Property '{key}' is not a string property")
        if not 1 <= len(key) <= MAX_PROPERTY_KEY:
            raise InvalidInput(f"Property name '{key}' must be 1 to {MAX_PROPERTY_KEY} long")
        if not isinstance(value, str) or len(value) > MAX_PROPERTY_VALUE:
            raise InvalidInput(f"Property '{key}' must be a string of at most "
                               f"{MAX_PROPERTY_VALUE} characters")  # fmt: skip


def _check_create(context: RequestContext, request: ImageRequest) -> str:
    """Validate ``request``; returns the owner."""
    context.require_write("Creating an image")
    _check_visibility(context, request.visibility)
    _check_choice("disk_format", request.disk_format, DISK_FORMATS)
    _check_choice("container_format", request.container_format, CONTAINER_FORMATS)
    if request.owner not in (None, context.project_id) and not context.is_admin:
        raise Forbidden("You are not permitted to create images owned by another project.",
                        kind="PolicyNotAuthorized")  # fmt: skip
    if request.id is not None:
        try:
            uuid.UUID(request.id)
        except ValueError:
            raise InvalidInput(f"Invalid id '{request.id}': it must be a UUID") from None
    if request.location is not None and not request.location.strip():
        raise InvalidInput("Invalid location: it must not be empty")
    check_properties(request.properties)
    return request.owner or context.project_id


def create_image(
    session: Session, context: RequestContext, request: ImageRequest, now: datetime
) -> Image:
    """A record only: ``active`` when it has a location, else ``queued`` (no upload here)."""
    owner = _check_create(context, request)
    image_id = request.id or str(uuid.uuid4())
    if session.get(Image, image_id) is not None:
        raise Conflict(f"Image with identifier {image_id} already exists!", kind="Duplicate")
    properties: dict[str, Any] = dict(request.properties)
    properties.update(protected=request.protected, os_hidden=request.os_hidden)
    image = Image(
        id=image_id,
        name=request.name,
        owner=owner,
        status="active" if request.location else "queued",
        visibility=request.visibility,
        disk_format=request.disk_format,
        container_format=request.container_format,
        min_disk=request.min_disk,
        min_ram=request.min_ram,
        size=None,
        location=request.location,
        properties=properties,
        tags=list(dict.fromkeys(request.tags)),
        created_at=now,
        updated_at=now,
    )
    session.add(image)
    session.commit()
    return image


def _owned(session: Session, context: RequestContext, image_id: str, action: str) -> Image:
    image = get_image(session, context, image_id)
    if not context.is_admin and image.owner != context.project_id:
        raise Forbidden(f"You are not permitted to {action} this image.",
                        kind="PolicyNotAuthorized")  # fmt: skip
    context.require_write(f"To {action} an image")
    return image


def delete_image(session: Session, context: RequestContext, image_id: str) -> None:
    image = _owned(session, context, image_id, "delete")
    if image.properties.get("protected"):
        raise Forbidden(f"Image {image_id} is protected and cannot be deleted.",
                        kind="ProtectedImageDelete")  # fmt: skip
    session.delete(image)
    session.commit()


def _attribute(path: str) -> str:
    if not path.startswith("/") or "/" in path[1:] or len(path) < 2:
        raise InvalidInput(f"Invalid JSON pointer for this resource: '{path}'")
    return path[1:].replace("~1", "/").replace("~0", "~")


def _set_core(context: RequestContext, image: Image, name: str, value: Any) -> None:
    if name == "name":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise InvalidInput("Invalid value for name: a string of at most 255 characters")
        image.name = value
    elif name == "visibility":
        _check_visibility(context, str(value))
        image.visibility = str(value)
    elif name in ("min_disk", "min_ram"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidInput(f"Invalid value for {name}: a non-negative integer")
        setattr(image, name, value)
    elif name == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise InvalidInput("Invalid value for tags: a list of strings")
        image.tags = list(dict.fromkeys(value))
    elif name in BOOLEAN_PROPERTIES:
        if not isinstance(value, bool):
            raise InvalidInput(f"Invalid value for {name}: true or false")
        image.properties = {**image.properties, name: value}
    elif name == "location":
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("Invalid value for location: a non-empty path or URL")
        image.location = value
        if image.status == "queued":
            image.status = "active"
    else:
        _set_format(image, name, value)


def _set_format(image: Image, name: str, value: Any) -> None:
    if image.status != "queued":
        raise Forbidden(f"Attribute {name} can be only replaced for a queued image.",
                        kind="Forbidden")  # fmt: skip
    choices = DISK_FORMATS if name == "disk_format" else CONTAINER_FORMATS
    _check_choice(name, value, choices)
    setattr(image, name, value)


def _apply(context: RequestContext, image: Image, operation: PatchOperation) -> None:
    name = _attribute(operation.path)
    if name in READ_ONLY:
        raise Forbidden(f"Attribute '{name}' is read-only.", kind="ReadonlyProperty")
    if operation.op not in ("add", "replace", "remove"):
        raise InvalidInput(f"Invalid operation: '{operation.op}'")
    if name in CORE or name in ("disk_format", "container_format"):
        if operation.op == "remove":
            raise Forbidden(f"Attribute '{name}' cannot be removed.", kind="Forbidden")
        _set_core(context, image, name, operation.value)
        return
    properties = dict(image.properties)
    if operation.op != "add" and name not in properties:
        raise Conflict(f"Property {name} does not exist.", kind="PropertyNotFound")
    if operation.op == "remove":
        del properties[name]
    else:
        check_properties({name: operation.value})
        properties[name] = operation.value
    image.properties = properties


def update_image(
    session: Session,
    context: RequestContext,
    image_id: str,
    operations: Sequence[PatchOperation],
    now: datetime,
) -> Image:
    """Apply a JSON patch to the owner's (or, for admins, any) image, all or nothing."""
    image = _owned(session, context, image_id, "modify")
    try:
        for operation in operations:
            _apply(context, image, operation)
    except Exception:
        session.rollback()
        raise
    image.updated_at = now
    session.commit()
    return image


def ensure_default_image(session: Session, now: datetime, data_dir: Path | None = None) -> Image:
    """Register the public image a new user boots; the disk file is a placeholder path.

    Idempotent: an image of that name is left as it is.
    """
    existing = session.scalar(select(Image).where(Image.name == DEFAULT_IMAGE_NAME))
    if existing is not None:
        return existing
    location = ((data_dir or DEFAULT_DATA_DIR) / "images" / DEFAULT_IMAGE_FILE).absolute()
    image = Image(
        id=str(uuid.uuid4()),
        name=DEFAULT_IMAGE_NAME,
        owner=None,
        status="active",
        visibility="public",
        disk_format="qcow2",
        container_format="bare",
        min_disk=0,
        min_ram=0,
        size=None,
        location=str(location),
        properties={
            "protected": False,
            "os_hidden": False,
            "os_distro": "cirros",
            "vfplane_placeholder": "true",
            "description": f"Placeholder registered by vfplane: put the CirrOS disk at {location} "
            "(the file need not exist until a server boots from it).",
        },
        tags=[],
        created_at=now,
        updated_at=now,
    )
    session.add(image)
    session.commit()
    return image
