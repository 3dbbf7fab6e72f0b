"""Binding ports to hosts, as ML2 does it.

A port update's drivers run outside any transaction on a snapshot of the port; the
outcome is committed only if host, vnic_type and profile are still what the drivers saw
(re-read in the committing transaction), otherwise binding starts over. A server's own
ports are bound in one transaction that holds their rows (``server_ports.bind_ports``). A port
also has extended bindings: one row per host, exactly one of them ACTIVE.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from vfplane.db.tables import Network, Port, PortBinding
from vfplane.domain.binding import (
    UNBOUND_VIF_TYPES,
    Binder,
    BindingOutcome,
    DriverVerdict,
    FailureReason,
    NetworkView,
    PortContext,
    PortView,
)
from vfplane.domain.networks import PortStatus, VifType, VnicType
from vfplane.errors import Conflict, InvalidInput, NotFound
from vfplane.service import events
from vfplane.service.agents import host_agents
from vfplane.service.context import RequestContext

LOG = logging.getLogger(__name__)
MAX_BIND_TRIES = 10
MAX_PROFILE_LENGTH = 4095
ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"


def checked_profile(profile: Mapping[str, Any] | None) -> dict[str, Any]:
    """``binding:profile``: an object or null (meaning {}), at most 4095 chars of JSON."""
    if profile is None:
        return {}
    if not isinstance(profile, Mapping):
        raise InvalidInput("Invalid input for binding:profile: it must be an object or null")
    size = len(json.dumps(profile))
    if size > MAX_PROFILE_LENGTH:
        raise InvalidInput(
            f"Invalid input for binding:profile: {size} characters of JSON is more than "
            f"{MAX_PROFILE_LENGTH}"
        )
    return dict(profile)


def current_binding(port: Port) -> PortBinding | None:
    return next((b for b in port.bindings if b.status == ACTIVE), None)


def active_binding(port: Port) -> PortBinding:
    """The port's ACTIVE binding, created unbound if the port has none."""
    binding = current_binding(port)
    if binding is None:
        binding = PortBinding(host="", vnic_type=VnicType.NORMAL, profile={}, status=ACTIVE)
        reset_binding(binding)
        port.bindings.append(binding)
    return binding


def reset_binding(binding: PortBinding) -> None:
    binding.vif_type = VifType.UNBOUND
    binding.vif_details = {}
    binding.failure_reasons = []


def port_context(
    session: Session,
    port: Port,
    binding: PortBinding,
    agent_down_time: int,
    now: datetime,
) -> PortContext:
    """A frozen snapshot of what the drivers need to bind ``port`` as ``binding`` says."""
    network = session.get_one(Network, port.network_id)
    return PortContext(
        port=PortView(
            id=port.id,
            network_id=port.network_id,
            mac_address=port.mac_address,
            device_owner=port.device_owner,
            fixed_ips=tuple((a.subnet_id, a.ip_address) for a in port.fixed_ips),
        ),
        network=network_view(network),
        host=binding.host,
        vnic_type=binding.vnic_type,
        profile=dict(binding.profile or {}),
        agents=host_agents(session, binding.host, now, agent_down_time),
        agent_down_time=agent_down_time,
    )


def network_view(network: Network) -> NetworkView:
    return NetworkView(
        id=network.id,
        network_type=network.network_type,
        physical_network=network.physical_network,
        segmentation_id=network.segmentation_id,
        port_profile=network.port_profile,
    )


def _snapshot(
    session: Session, port_id: str, agent_down_time: int, now: datetime
) -> PortContext | None:
    port = session.get(Port, port_id, populate_existing=True)
    binding = current_binding(port) if port is not None else None
    if port is None or binding is None or not binding.host:
        return None
    if binding.vif_type not in UNBOUND_VIF_TYPES:
        return None
    return port_context(session, port, binding, agent_down_time, now)


def bind_port_if_needed(session: Session, port_id: str, binder: Binder, now: datetime) -> None:
    """Bind when a host is set and the port is unbound or failed; retry on races."""
    for _ in range(MAX_BIND_TRIES):
        context = _snapshot(session, port_id, binder.agent_down_time, now)
        session.rollback()  # the drivers run outside any transaction
        if context is None:
            return
        outcome = binder.bind(context)
        if _commit_binding(session, context, outcome, now):
            return
    LOG.warning("Gave up binding port %s: its binding kept changing meanwhile", port_id)


def _commit_binding(
    session: Session, context: PortContext, outcome: BindingOutcome, now: datetime
) -> bool:
    """Store ``outcome`` if the inputs are unchanged; False means bind again."""
    query = select(PortBinding).where(
        PortBinding.port_id == context.port.id, PortBinding.status == ACTIVE
    )
    binding = session.scalar(query.with_for_update().execution_options(populate_existing=True))
    if binding is None:
        session.rollback()
        return True
    inputs = (binding.host, binding.vnic_type, binding.profile or {})
    if inputs != (context.host, context.vnic_type, dict(context.profile)):
        session.rollback()
        return False
    if binding.vif_type not in UNBOUND_VIF_TYPES:
        session.rollback()  # a concurrent request bound it with the same inputs
        return True
    port = session.get_one(Port, context.port.id)
    port.updated_at = now
    store_outcome(port, binding, outcome)
    port.revision_number += 1
    session.commit()
    return True


def store_outcome(port: Port, binding: PortBinding, outcome: BindingOutcome) -> None:
    """Keep the drivers' outcome; a failure also becomes an event in the same transaction
    (at the port's ``updated_at``, which its callers set to now)."""
    binding.vif_type = outcome.vif_type
    binding.vif_details = dict(outcome.vif_details)
    binding.failure_reasons = [r.as_dict() for r in outcome.reasons]
    port.status = outcome.status
    session = object_session(port)
    if binding.vif_type == VifType.BINDING_FAILED and session is not None:
        events.binding_failed(session, port, binding, port.updated_at)


# --- extended bindings (binding-extended) -----------------------------------


@dataclass(frozen=True)
class BindingRequest:
    host: str
    vnic_type: str | None = None
    profile: Mapping[str, Any] | None = None


def _port_for_bindings(session: Session, context: RequestContext, port_id: str) -> Port:
    context.require_admin_or_service("Managing port bindings")
    port = session.get(Port, port_id)
    if port is None:
        raise NotFound(f"Port {port_id} could not be found.", kind="PortNotFound")
    return port


def _binding_on(port: Port, host: str) -> PortBinding:
    for binding in port.bindings:
        if binding.host and binding.host == host:
            return binding
    raise NotFound(
        f"Binding for port {port.id} on host {host} could not be found.",
        kind="PortBindingNotFound",
    )


def list_bindings(session: Session, context: RequestContext, port_id: str) -> list[PortBinding]:
    port = _port_for_bindings(session, context, port_id)
    return sorted((b for b in port.bindings if b.host), key=lambda b: (b.status, b.host))


def get_binding(session: Session, context: RequestContext, port_id: str, host: str) -> PortBinding:
    return _binding_on(_port_for_bindings(session, context, port_id), host)


def _already_exists(port_id: str, host: str) -> Conflict:
    return Conflict(
        f"Binding for port {port_id} on host {host} already exists.",
        kind="PortBindingAlreadyExists",
    )


def create_binding(
    session: Session,
    context: RequestContext,
    port_id: str,
    request: BindingRequest,
    binder: Binder,
    now: datetime,
) -> PortBinding:
    """An INACTIVE binding on another host; a binding that fails is not stored."""
    port = _port_for_bindings(session, context, port_id)
    if not request.host:
        raise InvalidInput("Invalid input for binding.host: a host is required")
    if any(b.host == request.host for b in port.bindings):
        raise _already_exists(port_id, request.host)
    active = current_binding(port)
    vnic_type = request.vnic_type or (active.vnic_type if active else VnicType.NORMAL)
    binding = PortBinding(
        port_id=port.id, host=request.host, vnic_type=vnic_type,
        profile=checked_profile(request.profile), status=INACTIVE,
    )  # fmt: skip
    outcome = binder.bind(port_context(session, port, binding, binder.agent_down_time, now))
    if not outcome.bound:
        session.rollback()
        raise Conflict(
            f"Binding for port {port_id} on host {request.host} could not be created: "
            f"{outcome.describe_failure()}",
            kind="PortBindingError",
        )
    binding.vif_type = outcome.vif_type
    binding.vif_details = dict(outcome.vif_details)
    binding.failure_reasons = []
    session.add(binding)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise _already_exists(port_id, request.host) from None
    return binding


def activate_binding(
    session: Session, context: RequestContext, port_id: str, host: str, now: datetime
) -> PortBinding:
    """Make the binding on ``host`` the ACTIVE one; the old active one becomes INACTIVE."""
    port = _port_for_bindings(session, context, port_id)
    target = _binding_on(port, host)
    if target.status == ACTIVE:
        raise Conflict(
            f"Binding for port {port_id} on host {host} is already active.",
            kind="PortBindingAlreadyActive",
        )
    previous = current_binding(port)
    if previous is not None and previous.host:
        previous.status = INACTIVE
    elif previous is not None:
        port.bindings.remove(previous)
    target.status = ACTIVE
    bound_status = PortStatus.ACTIVE if target.vif_type == VifType.HOSTDEV_PHYSICAL else None
    port.status = bound_status or PortStatus.DOWN
    port.updated_at = now
    port.revision_number += 1
    session.commit()
    return target


def delete_binding(session: Session, context: RequestContext, port_id: str, host: str) -> None:
    port = _port_for_bindings(session, context, port_id)
    target = _binding_on(port, host)
    if target.status == ACTIVE:
        raise Conflict(
            f"Binding for port {port_id} on host {host} is active and cannot be deleted; "
            "activate another binding or clear binding:host_id.",
            kind="PortBindingActive",
        )
    port.bindings.remove(target)
    session.commit()


# --- explanations -----------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    port: Port
    binding: PortBinding
    network: NetworkView
    recorded: tuple[FailureReason, ...]
    verdicts: Sequence[DriverVerdict]

    @property
    def bound_driver(self) -> str | None:
        drivers = self.binding.vif_details.get("bound_drivers") or {}
        return str(drivers["0"]) if "0" in drivers else None


def explain_port(
    session: Session, context: RequestContext, port_id: str, binder: Binder, now: datetime
) -> Explanation:
    """The stored binding plus every driver's answer right now (drivers have no effects)."""
    port = _port_for_bindings(session, context, port_id)
    binding = active_binding(port)
    snapshot = port_context(session, port, binding, binder.agent_down_time, now)
    recorded = tuple(
        FailureReason(str(r.get("driver", "")), str(r.get("reason", "")))
        for r in binding.failure_reasons or []
    )
    verdicts = binder.evaluate(snapshot) if binding.host else ()
    return Explanation(port, binding, snapshot.network, recorded, verdicts)
