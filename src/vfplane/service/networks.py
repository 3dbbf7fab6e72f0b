"""Network use cases: provider and tenant networks, VLAN allocation, visibility."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vfplane.db.tables import Network, Port, Subnet
from vfplane.domain.networks import MAX_VLAN, MIN_VLAN, NetworkType, VlanRange, parse_vlan_ranges
from vfplane.errors import Conflict, Forbidden, InvalidInput, NotFound
from vfplane.service import qos
from vfplane.service.context import RequestContext
from vfplane.settings import NetworkSettings

_ALLOCATION_TRIES = 10
UPDATABLE = frozenset(
    {"name", "description", "admin_state_up", "shared", "mtu", "port_profile", "qos_policy_id"}
)


@dataclass(frozen=True)
class NetworkConfig:
    """What network creation needs from ``[network]``."""

    vlan_physnets: tuple[str, ...] = ()
    vlan_ranges: tuple[VlanRange, ...] = ()
    default_mtu: int = 1500

    @classmethod
    def from_settings(cls, settings: NetworkSettings) -> NetworkConfig:
        physnets, ranges = parse_vlan_ranges(settings.network_vlan_ranges)
        return cls(tuple(physnets), tuple(ranges), settings.default_mtu)


@dataclass(frozen=True)
class NetworkRequest:
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    shared: bool = False
    mtu: int | None = None
    network_type: str | None = None
    physical_network: str | None = None
    segmentation_id: int | None = None
    port_profile: str | None = None
    qos_policy_id: str | None = None
    project_id: str | None = None
    provider: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_provider_attributes(self) -> bool:
        return any(
            v is not None for v in (self.network_type, self.physical_network, self.segmentation_id)
        )


def visible_networks(context: RequestContext) -> Select[Network]:
    query = select(Network)
    if not context.is_admin_or_service:
        query = query.where((Network.project_id == context.project_id) | Network.shared)
    return query


def get_network(session: Session, context: RequestContext, network_id: str) -> Network:
    network = session.scalar(visible_networks(context).where(Network.id == network_id))
    if network is None:
        raise NotFound(f"Network {network_id} could not be found.", kind="NetworkNotFound")
    return network


def list_networks(session: Session, context: RequestContext) -> list[Network]:
    return list(session.scalars(visible_networks(context).order_by(Network.created_at)))


def _check_provider(request: NetworkRequest, config: NetworkConfig) -> None:
    kind = request.network_type
    if kind not in {t.value for t in NetworkType}:
        raise InvalidInput(
            f"Invalid input for provider:network_type: '{kind}'; vfplane supports flat and vlan"
        )
    if not request.physical_network:
        raise InvalidInput(
            f"Invalid input for provider:physical_network: a {kind} network needs one"
        )
    if kind == NetworkType.FLAT and request.segmentation_id is not None:
        raise InvalidInput("Invalid input for provider:segmentation_id: flat networks have none")
    if kind == NetworkType.VLAN:
        if request.physical_network not in config.vlan_physnets:
            known = ", ".join(config.vlan_physnets) or "none"
            raise InvalidInput(
                f"Invalid input for provider:physical_network: '{request.physical_network}' is "
                f"not a VLAN physical network (known: {known}; see [network] network_vlan_ranges)"
            )
        vlan = request.segmentation_id
        if vlan is not None and not MIN_VLAN <= vlan <= MAX_VLAN:
            raise InvalidInput(
                f"Invalid input for provider:segmentation_id: {vlan} is outside "
                f"{MIN_VLAN}..{MAX_VLAN}"
            )


def _check_create_policy(context: RequestContext, request: NetworkRequest) -> None:
    context.require_write("Creating a network")
    if request.has_provider_attributes and not context.is_admin:
        raise Forbidden(
            "Only admins may set provider:network_type, provider:physical_network and "
            "provider:segmentation_id",
            kind="PolicyNotAuthorized",
        )
    if request.shared and not context.is_admin:
        raise Forbidden("Only admins may create shared networks", kind="PolicyNotAuthorized")
    if request.project_id not in (None, context.project_id) and not context.is_admin:
        raise Forbidden("Only admins may create networks for another project",
                        kind="PolicyNotAuthorized")  # fmt: skip


def create_network(
    session: Session,
    context: RequestContext,
    request: NetworkRequest,
    config: NetworkConfig,
    now: datetime,
) -> Network:
    _check_create_policy(context, request)
    if request.qos_policy_id is not None:
        qos.get_policy(session, context, request.qos_policy_id)
    mtu = request.mtu if request.mtu is not None else config.default_mtu
    network = Network(
        id=str(uuid.uuid4()),
        project_id=request.project_id or context.project_id,
        name=request.name,
        description=request.description,
        admin_state_up=request.admin_state_up,
        shared=request.shared,
        mtu=mtu,
        port_profile=request.port_profile,
        qos_policy_id=request.qos_policy_id,
        status="ACTIVE",
        created_at=now,
        updated_at=now,
        revision_number=1,
    )
    if request.has_provider_attributes:
        _check_provider(request, config)
        network.network_type = str(request.network_type)
        network.physical_network = request.physical_network
        if request.network_type == NetworkType.VLAN and request.segmentation_id is None:
            return _insert_with_tenant_vlan(session, network, config, [request.physical_network])
        network.segmentation_id = request.segmentation_id
        return _insert_provider(session, network)
    network.network_type = NetworkType.VLAN
    return _insert_with_tenant_vlan(session, network, config, None)


def _insert_provider(session: Session, network: Network) -> Network:
    session.add(network)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        if network.network_type == NetworkType.FLAT:
            raise Conflict(
                f"Unable to create the flat network. Physical network "
                f"{network.physical_network} is in use.",
                kind="FlatNetworkInUse",
            ) from None
        raise Conflict(
            f"Unable to create the network. The VLAN {network.segmentation_id} on physical "
            f"network {network.physical_network} is in use.",
            kind="VlanIdInUse",
        ) from None
    return network


def _free_vlan(session: Session, ranges: list[VlanRange]) -> tuple[str, int] | None:
    for vlan_range in ranges:
        used = set(
            session.scalars(
                select(Network.segmentation_id).where(
                    Network.network_type == NetworkType.VLAN,
                    Network.physical_network == vlan_range.physical_network,
                )
            )
        )
        for vlan in vlan_range.ids():
            if vlan not in used:
                return vlan_range.physical_network, vlan
    return None


def _insert_with_tenant_vlan(
    session: Session, network: Network, config: NetworkConfig, physnets: list[str | None] | None
) -> Network:
    """Take the lowest free VLAN of the configured ranges; a lost race tries the next."""
    ranges = [r for r in config.vlan_ranges if physnets is None or r.physical_network in physnets]
    values = {c.name: getattr(network, c.name) for c in Network.__table__.columns}
    for _ in range(_ALLOCATION_TRIES):
        free = _free_vlan(session, ranges)
        if free is None:
            raise Conflict(
                "Unable to create the network. No tenant network is available for allocation "
                "(every VLAN of [network] network_vlan_ranges is in use, or none is configured).",
                kind="NoNetworkAvailable",
            )
        candidate = Network(**values)
        candidate.physical_network, candidate.segmentation_id = free
        session.add(candidate)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return candidate
    raise Conflict("Unable to allocate a VLAN: too many concurrent requests; try again.")


def update_network(
    session: Session,
    context: RequestContext,
    network_id: str,
    changes: Mapping[str, Any],
    now: datetime,
) -> Network:
    network = get_network(session, context, network_id)
    if not context.owns(network.project_id):
        raise Forbidden(f"Network {network_id} belongs to another project",
                        kind="PolicyNotAuthorized")  # fmt: skip
    context.require_write("Updating a network")
    refused = sorted(set(changes) - UPDATABLE)
    if refused:
        raise InvalidInput(f"Cannot update read-only attribute(s): {', '.join(refused)}")
    if "shared" in changes and changes["shared"] != network.shared:
        context.require_admin("Changing whether a network is shared")
    if changes.get("qos_policy_id") is not None:
        qos.get_policy(session, context, changes["qos_policy_id"])
    for name, value in changes.items():
        setattr(network, name, value)
    network.updated_at = now
    network.revision_number += 1
    session.commit()
    return network


def delete_network(session: Session, context: RequestContext, network_id: str) -> None:
    network = get_network(session, context, network_id)
    if not context.owns(network.project_id):
        raise Forbidden(f"Network {network_id} belongs to another project",
                        kind="PolicyNotAuthorized")  # fmt: skip
    context.require_write("Deleting a network")
    if session.scalar(select(exists().where(Port.network_id == network_id))):
        raise Conflict(
            f"Unable to complete operation on network {network_id}. There are one or more "
            "ports still in use on the network.",
            kind="NetworkInUse",
        )
    for subnet in session.scalars(select(Subnet).where(Subnet.network_id == network_id)):
        session.delete(subnet)
    session.delete(network)
    session.commit()
