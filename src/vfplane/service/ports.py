"""Port use cases: MACs, fixed IPs, visibility, and the binding extension's policy.

Binding itself (drivers, commit-if-unchanged) lives in ``service.port_bindings``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vfplane.db.tables import IpAllocation, Network, Port, PortBinding, QosPolicy
from vfplane.domain.binding import Binder
from vfplane.domain.networks import PortStatus, VifType, VnicType, random_mac
from vfplane.errors import Conflict, Forbidden, InvalidInput, NotFound
from vfplane.service.context import RequestContext
from vfplane.service.ipam import FixedIpRequest, address_conflict, assign_fixed_ips, plan_fixed_ips
from vfplane.service.networks import get_network
from vfplane.service.port_bindings import (
    active_binding,
    bind_port_if_needed,
    checked_profile,
    current_binding,
    reset_binding,
)
from vfplane.settings import NetworkSettings

_INSERT_TRIES = 10
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
PLAIN_ATTRIBUTES = frozenset(
    {
        "name",
        "description",
        "admin_state_up",
        "device_id",
        "device_owner",
        "port_security_enabled",
        "qos_policy_id",
        "trusted",
        "propagate_uplink_status",
    }
)
BINDING_ATTRIBUTES = frozenset({"vnic_type", "host", "profile"})
UPDATABLE = PLAIN_ATTRIBUTES | BINDING_ATTRIBUTES | {"fixed_ips"}


@dataclass(frozen=True)
class PortConfig:
    mac_prefix: str = "fa:16:3e"
    new_mac: Callable[[str], str] = random_mac

    @classmethod
    def from_settings(cls, settings: NetworkSettings) -> PortConfig:
        return cls(mac_prefix=settings.mac_prefix)


@dataclass(frozen=True)
class PortRequest:
    network_id: str
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    mac_address: str | None = None
    fixed_ips: tuple[FixedIpRequest, ...] | None = None
    device_id: str = ""
    device_owner: str = ""
    port_security_enabled: bool | None = None
    qos_policy_id: str | None = None
    trusted: bool | None = None
    propagate_uplink_status: bool = False
    project_id: str | None = None
    vnic_type: str = VnicType.NORMAL
    host: str | None = None
    profile: Mapping[str, Any] | None = None
    profile_given: bool = False


def visible_ports(context: RequestContext) -> Select[Port]:
    query = select(Port)
    if not context.is_admin_or_service:
        query = query.where(Port.project_id == context.project_id)
    return query


def get_port(session: Session, context: RequestContext, port_id: str) -> Port:
    port = session.scalar(visible_ports(context).where(Port.id == port_id))
    if port is None:
        raise NotFound(f"Port {port_id} could not be found.", kind="PortNotFound")
    return port


def show_port(session: Session, context: RequestContext, port_id: str) -> Port:
    """``get_port`` for a caller; a host's agent sees only the ports bound to its host."""
    port = get_port(session, context, port_id)
    binding = current_binding(port)
    if context.host_scope is not None and (binding is None or binding.host != context.host_scope):
        raise NotFound(f"Port {port_id} could not be found.", kind="PortNotFound")
    return port


def list_ports(
    session: Session, context: RequestContext, filters: Mapping[str, Sequence[str]]
) -> list[Port]:
    """Visible ports; ``network_id``, ``device_id`` and ``binding:host_id`` filter in SQL.

    A host's agent lists only the ports bound to its host."""
    query = visible_ports(context)
    if filters.get("network_id"):
        query = query.where(Port.network_id.in_(filters["network_id"]))
    if filters.get("device_id"):
        query = query.where(Port.device_id.in_(filters["device_id"]))
    hosts = filters.get("binding:host_id")
    if context.host_scope is not None:
        if hosts and context.host_scope not in hosts:
            return []
        hosts = [context.host_scope]
    if hosts and (context.is_admin_or_service or context.host_scope is not None):
        bound = select(PortBinding.port_id).where(
            PortBinding.status == "ACTIVE", PortBinding.host.in_(hosts)
        )
        query = query.where(Port.id.in_(bound))
    return list(session.scalars(query.order_by(Port.created_at, Port.id)))


def checked_mac(mac: str) -> str:
    normalized = mac.strip().lower().replace("-", ":")
    if not _MAC.match(normalized):
        raise InvalidInput(f"Invalid input for mac_address: '{mac}' is not a valid MAC address")
    if normalized == "00:00:00:00:00:00" or int(normalized[:2], 16) & 1:
        raise InvalidInput(f"Invalid input for mac_address: '{mac}' is not a unicast MAC address")
    return normalized


def _check_qos_policy(session: Session, context: RequestContext, policy_id: str) -> None:
    query = select(QosPolicy.id).where(QosPolicy.id == policy_id)
    if not context.is_admin_or_service:
        query = query.where((QosPolicy.project_id == context.project_id) | QosPolicy.shared)
    if session.scalar(query) is None:
        raise NotFound(f"QoS policy {policy_id} could not be found.", kind="QosPolicyNotFound")


def _check_privileged(context: RequestContext, given: set[str]) -> None:
    names = {"host": "binding:host_id", "profile": "binding:profile", "trusted": "trusted"}
    for key, attribute in names.items():
        if key in given and not context.is_admin_or_service:
            raise Forbidden(
                f"Setting {attribute} is allowed for admins and services only",
                kind="PolicyNotAuthorized",
            )


def _check_network_owner(context: RequestContext, network: Network, given: set[str]) -> None:
    """Neutron's ADMIN_OR_NETWORK_OWNER attributes, on someone else's shared network."""
    if context.is_admin_or_service or network.project_id == context.project_id:
        return
    blocked = sorted(given & {"mac_address", "ip_address", "port_security_enabled"})
    if blocked:
        raise Forbidden(
            f"Setting {', '.join(blocked)} on a port of another project's network is allowed "
            "for the network owner and admins only",
            kind="PolicyNotAuthorized",
        )


def _given(request: PortRequest) -> set[str]:
    given = {
        name
        for name in ("mac_address", "port_security_enabled", "trusted", "host")
        if getattr(request, name) is not None
    }
    if request.profile_given:
        given.add("profile")
    if any(entry.ip_address for entry in request.fixed_ips or ()):
        given.add("ip_address")
    return given


def _check_create(context: RequestContext, request: PortRequest) -> None:
    context.require_write("Creating a port")
    if request.project_id not in (None, context.project_id) and not context.is_admin:
        raise Forbidden("Only admins may create ports for another project",
                        kind="PolicyNotAuthorized")  # fmt: skip
    _check_privileged(context, _given(request))


def create_port(
    session: Session,
    context: RequestContext,
    request: PortRequest,
    config: PortConfig,
    binder: Binder,
    now: datetime,
) -> Port:
    _check_create(context, request)
    network = get_network(session, context, request.network_id)
    _check_network_owner(context, network, _given(request))
    profile = checked_profile(request.profile)
    if request.qos_policy_id is not None:
        _check_qos_policy(session, context, request.qos_policy_id)
    mac = checked_mac(request.mac_address) if request.mac_address is not None else None
    port_id = _insert_port(session, context, network, request, config, mac, profile, now)
    if request.host:  # a port created unbound has nothing to bind
        bind_port_if_needed(session, port_id, binder, now)
    return get_port(session, context, port_id)


def _mac_taken(session: Session, mac: str) -> bool:
    return session.scalar(select(Port.id).where(Port.mac_address == mac)) is not None


def _fresh_mac(session: Session, config: PortConfig) -> str:
    for _ in range(_INSERT_TRIES):
        mac = config.new_mac(config.mac_prefix)
        if not _mac_taken(session, mac):
            return mac
    raise Conflict("Unable to generate a unique MAC address; try again.",
                   kind="MacAddressGenerationFailure")  # fmt: skip


def _mac_in_use(network_id: str, mac: str) -> Conflict:
    return Conflict(
        f"Unable to complete operation for network {network_id}. The mac address {mac} is in use.",
        kind="MacAddressInUse",
    )


def _new_port(
    context: RequestContext,
    request: PortRequest,
    mac: str,
    profile: dict[str, Any],
    plan: Sequence[tuple[str, str]],
    now: datetime,
) -> Port:
    port_id = str(uuid.uuid4())
    binding = PortBinding(
        host=request.host or "",
        vnic_type=request.vnic_type,
        profile=profile,
        vif_type=VifType.UNBOUND,
        vif_details={},
        status="ACTIVE",
        failure_reasons=[],
    )
    return Port(
        id=port_id,
        project_id=request.project_id or context.project_id,
        network_id=request.network_id,
        name=request.name,
        description=request.description,
        mac_address=mac,
        admin_state_up=request.admin_state_up,
        status=PortStatus.DOWN,
        device_id=request.device_id,
        device_owner=request.device_owner,
        port_security_enabled=request.port_security_enabled is not False,
        qos_policy_id=request.qos_policy_id,
        trusted=request.trusted,
        propagate_uplink_status=request.propagate_uplink_status,
        request_id=context.request_id or None,
        fixed_ips=assign_fixed_ips(port_id, plan),
        bindings=[binding],
        created_at=now,
        updated_at=now,
        revision_number=1,
    )


def _insert_port(
    session: Session,
    context: RequestContext,
    network: Network,
    request: PortRequest,
    config: PortConfig,
    mac: str | None,
    profile: dict[str, Any],
    now: datetime,
) -> str:
    """Insert the port; a lost race for a generated MAC or address tries again."""
    for attempt in range(_INSERT_TRIES):
        if mac is not None and _mac_taken(session, mac):
            raise _mac_in_use(network.id, mac)
        chosen = mac or _fresh_mac(session, config)
        plan = plan_fixed_ips(session, network, request.fixed_ips, spread=attempt > 0)
        port = _new_port(context, request, chosen, profile, plan, now)
        session.add(port)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            if mac is None and _mac_taken(session, chosen):
                continue
            _raise_if_explicit_address_taken(session, request, plan)
            continue
        return port.id
    raise Conflict("Unable to create the port: too many concurrent requests; try again.")


def _raise_if_explicit_address_taken(
    session: Session, request: PortRequest, plan: Sequence[tuple[str, str]]
) -> None:
    wanted = {entry.ip_address for entry in request.fixed_ips or () if entry.ip_address}
    taken = [
        (subnet_id, address)
        for subnet_id, address in plan
        if address in wanted
        and session.get(IpAllocation, {"subnet_id": subnet_id, "ip_address": address}) is not None
    ]
    if taken:
        raise address_conflict(taken)
    if request.mac_address is not None:
        raise _mac_in_use(request.network_id, request.mac_address)


def _check_update(
    context: RequestContext, port: Port, network: Network, changes: Mapping[str, Any]
) -> None:
    context.require_write("Updating a port")
    refused = sorted(set(changes) - UPDATABLE)
    if refused:
        raise InvalidInput(f"Cannot update read-only attribute(s): {', '.join(refused)}")
    given = set(changes)
    if any(entry.ip_address for entry in changes.get("fixed_ips") or ()):
        given.add("ip_address")
    _check_privileged(context, given)
    _check_network_owner(context, network, given)
    binding = active_binding(port)
    vnic_type = changes.get("vnic_type")
    if vnic_type is not None and vnic_type != binding.vnic_type and binding.host:
        raise Conflict(
            f"Cannot change binding:vnic_type of port {port.id} from {binding.vnic_type} to "
            f"{vnic_type}: the port is bound to host {binding.host}; unbind it first "
            "(clear binding:host_id).",
            kind="PortBound",
        )
    for name in ("admin_state_up", "port_security_enabled", "propagate_uplink_status"):
        if name in changes and changes[name] is None:
            raise InvalidInput(f"Invalid input for {name}: null is not allowed")


def update_port(
    session: Session,
    context: RequestContext,
    port_id: str,
    changes: Mapping[str, Any],
    binder: Binder,
    now: datetime,
) -> Port:
    port = get_port(session, context, port_id)
    network = session.get_one(Network, port.network_id)
    _check_update(context, port, network, changes)
    if changes.get("qos_policy_id") is not None:
        _check_qos_policy(session, context, changes["qos_policy_id"])
    _apply_binding_changes(session, port, changes)
    if "fixed_ips" in changes:
        _replace_fixed_ips(session, port, network, changes["fixed_ips"])
    for name in PLAIN_ATTRIBUTES & set(changes):
        setattr(port, name, changes[name])
    port.updated_at = now
    port.revision_number += 1
    port.request_id = context.request_id or port.request_id
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"Port {port_id} changed meanwhile, or a requested address is taken; try again.",
            kind="IpAddressAlreadyAllocated",
        ) from None
    bind_port_if_needed(session, port_id, binder, now)
    return get_port(session, context, port_id)


def _apply_binding_changes(session: Session, port: Port, changes: Mapping[str, Any]) -> None:
    """Set host/vnic_type/profile; any real change clears the binding (status DOWN)."""
    binding = active_binding(port)
    before = (binding.host, binding.vnic_type, binding.profile)
    if "profile" in changes:
        binding.profile = checked_profile(changes["profile"])
    if changes.get("vnic_type") is not None:
        binding.vnic_type = changes["vnic_type"]
    if "host" in changes:
        host = changes["host"] or ""
        if host and host != binding.host and any(b.host == host for b in port.bindings):
            raise Conflict(
                f"Port {port.id} already has an inactive binding on host {host}; activate or "
                "delete it instead.",
                kind="PortBindingAlreadyExists",
            )
        binding.host = host
    if (binding.host, binding.vnic_type, binding.profile) != before:
        reset_binding(binding)
        port.status = PortStatus.DOWN


def _replace_fixed_ips(
    session: Session, port: Port, network: Network, requested: Sequence[FixedIpRequest] | None
) -> None:
    port.fixed_ips.clear()
    session.flush()
    plan = plan_fixed_ips(session, network, requested or ())
    port.fixed_ips.extend(assign_fixed_ips(port.id, plan))


def held_port(session: Session, context: RequestContext, port_id: str, action: str) -> Port:
    """The port, for ``action`` (a write), read again once its row is held until the next
    commit (PostgreSQL's row lock, SQLite's write turn): a binding committed meanwhile is
    seen."""
    get_port(session, context, port_id)
    context.require_write(action)
    hold = update(Port).where(Port.id == port_id).values(revision_number=Port.revision_number + 1)
    session.connection().execute(hold)
    port = session.get(Port, port_id, populate_existing=True)
    if port is None:
        raise NotFound(f"Port {port_id} could not be found.", kind="PortNotFound")
    return port


def delete_port(session: Session, context: RequestContext, port_id: str) -> None:
    """Delete the port; its addresses and bindings go with it."""
    session.delete(held_port(session, context, port_id, "Deleting a port"))
    session.commit()
