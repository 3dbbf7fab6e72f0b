"""Flavor use cases: Nova's flavors, their extra specs and who may use private ones."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vfplane.db.tables import Flavor, FlavorAccess, FlavorExtraSpec
from vfplane.domain.alias import Alias, NumaPolicy
from vfplane.domain.requests import flavor_numa_nodes
from vfplane.errors import Conflict, InvalidInput, NotFound
from vfplane.service.context import RequestContext

ALIAS_SPEC = "pci_passthrough:alias"
NUMA_POLICY_SPEC = "hw:pci_numa_affinity_policy"
# Nova's extra spec validator for pci_passthrough:alias: "<alias>:<count>[, ...]".
_ALIAS_VALUE_RE = re.compile(r"[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*")
_FLAVOR_ID_RE = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")
_SPEC_KEY_RE = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")


@dataclass(frozen=True)
class FlavorRequest:
    name: str
    vcpus: int
    ram: int
    disk: int = 0
    swap: int = 0
    ephemeral: int = 0
    rxtx_factor: float = 1.0
    is_public: bool = True
    description: str | None = None
    id: str | None = None


def _with_access(query: Select[Flavor], project_id: str) -> Select[Flavor]:
    granted = Flavor.access.any(FlavorAccess.project_id == project_id)
    return query.where(Flavor.is_public | granted)


def visible_flavors(context: RequestContext) -> Select[Flavor]:
    """Admins see every flavor; others public ones and private ones shared with them."""
    query = select(Flavor)
    if context.is_admin:
        return query
    return _with_access(query, context.project_id)


def list_flavors(
    session: Session,
    context: RequestContext,
    is_public: bool | None = True,
    min_ram: int | None = None,
    min_disk: int | None = None,
) -> list[Flavor]:
    """Nova's list: ``is_public`` None means all (admins only); True adds shared private ones."""
    query = select(Flavor)
    if not context.is_admin:
        query = _with_access(query, context.project_id).where(Flavor.disabled.is_(False))
    elif is_public is True:
        query = _with_access(query, context.project_id)
    elif is_public is False:
        query = query.where(Flavor.is_public.is_(False))
    if min_ram is not None:
        query = query.where(Flavor.ram >= min_ram)
    if min_disk is not None:
        query = query.where(Flavor.disk >= min_disk)
    return list(session.scalars(query.order_by(Flavor.ram, Flavor.id)))


def get_flavor(session: Session, context: RequestContext, flavor_id: str) -> Flavor:
    flavor = session.scalar(visible_flavors(context).where(Flavor.id == flavor_id))
    if flavor is None:
        raise NotFound(f"Flavor {flavor_id} could not be found.", kind="FlavorNotFound")
    return flavor


def _check_request(request: FlavorRequest) -> None:
    name = request.name
    if not name or name != name.strip() or len(name) > 255:
        raise InvalidInput(
            f"Invalid input for field/attribute name. Value: {name!r}. A flavor name must be "
            "1 to 255 characters without leading or trailing whitespace"
        )
    if request.id is not None and not (len(request.id) <= 255 and _FLAVOR_ID_RE.match(request.id)):
        raise InvalidInput(
            f"Invalid input for field/attribute id. Value: {request.id!r}. A flavor id may "
            "hold letters, digits, '.', '_', '-' and inner spaces"
        )
    for field, value, least in (("vcpus", request.vcpus, 1), ("ram", request.ram, 1),
                                ("disk", request.disk, 0), ("swap", request.swap, 0),
                                ("OS-FLV-EXT-DATA:ephemeral", request.ephemeral, 0)):  # fmt: skip
        if value < least:
            raise InvalidInput(
                f"Invalid input for field/attribute {field}. Value: {value}. "
                f"{value} is less than the minimum of {least}"
            )
    if request.rxtx_factor <= 0:
        raise InvalidInput(f"Invalid input for field/attribute rxtx_factor. "
                           f"Value: {request.rxtx_factor}. It must be positive")  # fmt: skip


def create_flavor(
    session: Session, context: RequestContext, request: FlavorRequest, now: datetime
) -> Flavor:
    context.require_admin("Creating a flavor")
    _check_request(request)
    flavor_id = request.id or str(uuid.uuid4())
    if session.get(Flavor, flavor_id) is not None:
        raise Conflict(f"Flavor with ID {flavor_id} already exists.", kind="FlavorIdExists")
    if session.scalar(select(Flavor.id).where(Flavor.name == request.name)) is not None:
        raise Conflict(f"Flavor with name {request.name} already exists.", kind="FlavorExists")
    flavor = Flavor(
        id=flavor_id,
        name=request.name,
        vcpus=request.vcpus,
        ram=request.ram,
        disk=request.disk,
        swap=request.swap,
        ephemeral=request.ephemeral,
        rxtx_factor=request.rxtx_factor,
        is_public=request.is_public,
        disabled=False,
        description=request.description,
        created_at=now,
        extra_specs=[],
        access=[],
    )
    session.add(flavor)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"Flavor with name {request.name} or ID {flavor_id} already exists.",
            kind="FlavorExists",
        ) from None
    return flavor


def delete_flavor(session: Session, context: RequestContext, flavor_id: str) -> None:
    context.require_admin("Deleting a flavor")
    session.delete(get_flavor(session, context, flavor_id))
    session.commit()


# --- extra specs ----------------------------------------------------------------


def check_alias_spec(value: str, aliases: Mapping[str, Alias]) -> None:
    """``pci_passthrough:alias`` must read ``<alias>:<count>[, ...]`` with configured aliases."""
    if not _ALIAS_VALUE_RE.fullmatch(value):
        raise InvalidInput(
            f"Validation failed; {ALIAS_SPEC} {value!r} must be a comma-separated list of "
            '<alias>:<count>, such as "a1:1" or "a1:2, a2:1"'
        )
    for entry in value.split(","):
        name, count = (part.strip() for part in entry.rsplit(":", 1))
        if name not in aliases:
            known = ", ".join(sorted(aliases)) or "none; see [pci] alias"
            raise InvalidInput(
                f"Invalid {ALIAS_SPEC} {value!r}: PCI alias {name} is not defined "
                f"(defined aliases: {known})",
                kind="PciRequestAliasNotDefined",
            )
        if int(count) < 1:
            raise InvalidInput(f"Invalid {ALIAS_SPEC} {value!r}: alias {name} asks for "
                               f"{count} devices; ask for at least 1")  # fmt: skip


def check_extra_specs(specs: Mapping[str, str], aliases: Mapping[str, Alias]) -> None:
    """Validate keys, value lengths and the extra specs vfplane understands."""
    for key, value in specs.items():
        if not _SPEC_KEY_RE.match(key):
            raise InvalidInput(
                f"Invalid input for field/attribute extra_specs. Key {key!r} must be 1 to 255 "
                "letters, digits, spaces and '-', '_', ':', '.'"
            )
        if len(value) > 255:
            raise InvalidInput(f"Invalid input for field/attribute extra_specs. The value of "
                               f"{key} is longer than 255 characters")  # fmt: skip
    if ALIAS_SPEC in specs:
        check_alias_spec(specs[ALIAS_SPEC], aliases)
    flavor_numa_nodes(specs)
    policy = specs.get(NUMA_POLICY_SPEC)
    if policy is not None and policy not in {p.value for p in NumaPolicy}:
        choices = ", ".join(p.value for p in NumaPolicy)
        raise InvalidInput(
            f"Validation failed; {NUMA_POLICY_SPEC} {policy!r} is not one of {choices}"
        )


def get_extra_specs(session: Session, context: RequestContext, flavor_id: str) -> dict[str, str]:
    return get_flavor(session, context, flavor_id).specs


def get_extra_spec(session: Session, context: RequestContext, flavor_id: str, key: str) -> str:
    specs = get_extra_specs(session, context, flavor_id)
    if key not in specs:
        raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.",
                       kind="FlavorExtraSpecsNotFound")  # fmt: skip
    return specs[key]


def set_extra_specs(
    session: Session,
    context: RequestContext,
    flavor_id: str,
    specs: Mapping[str, str],
    aliases: Mapping[str, Alias],
) -> dict[str, str]:
    """Add or replace ``specs``; the flavor's other extra specs stay."""
    context.require_admin("Setting flavor extra specs")
    flavor = get_flavor(session, context, flavor_id)
    check_extra_specs(specs, aliases)
    current = {spec.key: spec for spec in flavor.extra_specs}
    for key, value in specs.items():
        if key in current:
            current[key].value = value
        else:
            flavor.extra_specs.append(FlavorExtraSpec(flavor_id=flavor.id, key=key, value=value))
    session.commit()
    return dict(specs)


def delete_extra_spec(session: Session, context: RequestContext, flavor_id: str, key: str) -> None:
    context.require_admin("Deleting flavor extra specs")
    flavor = get_flavor(session, context, flavor_id)
    kept = [spec for spec in flavor.extra_specs if spec.key != key]
    if len(kept) == len(flavor.extra_specs):
        raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.",
                       kind="FlavorExtraSpecsNotFound")  # fmt: skip
    flavor.extra_specs = kept
    session.commit()


# --- access to private flavors -----------------------------------------------------


def list_access(session: Session, context: RequestContext, flavor_id: str) -> list[str]:
    """The projects that may use a private flavor; admins, and those projects, may ask."""
    flavor = get_flavor(session, context, flavor_id)
    if flavor.is_public:
        raise NotFound("Access list not available for public flavors.",
                       kind="FlavorAccessNotFound")  # fmt: skip
    return [access.project_id for access in flavor.access]


def _private_flavor(session: Session, context: RequestContext, flavor_id: str) -> Flavor:
    context.require_admin("Changing flavor access")
    flavor = get_flavor(session, context, flavor_id)
    if flavor.is_public:
        raise Conflict("Can not add access to a public flavor.", kind="FlavorAccessPublic")
    return flavor


def add_access(
    session: Session, context: RequestContext, flavor_id: str, project_id: str
) -> list[str]:
    flavor = _private_flavor(session, context, flavor_id)
    if any(access.project_id == project_id for access in flavor.access):
        raise Conflict(f"Flavor access already exists for flavor {flavor_id} and project "
                       f"{project_id} combination.", kind="FlavorAccessExists")  # fmt: skip
    flavor.access.append(FlavorAccess(flavor_id=flavor.id, project_id=project_id))
    session.commit()
    return [access.project_id for access in flavor.access]


def remove_access(
    session: Session, context: RequestContext, flavor_id: str, project_id: str
) -> list[str]:
    flavor = _private_flavor(session, context, flavor_id)
    kept = [access for access in flavor.access if access.project_id != project_id]
    if len(kept) == len(flavor.access):
        raise NotFound(f"Flavor access not found for {flavor_id} / {project_id} combination.",
                       kind="FlavorAccessNotFound")  # fmt: skip
    flavor.access = kept
    session.commit()
    return [access.project_id for access in flavor.access]
