"""Subnet use cases: IPv4 and IPv6 subnets with gateways and allocation pools."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from vfplane.db.tables import IpAllocation, Network, Subnet
from vfplane.domain import ipam
from vfplane.errors import Conflict, Forbidden, InvalidInput, NotFound
from vfplane.service.context import RequestContext
from vfplane.service.networks import get_network, visible_networks

IPV6_MODES = frozenset({"slaac", "dhcpv6-stateful", "dhcpv6-stateless"})
UPDATABLE = frozenset(
    {"name", "description", "gateway_ip", "allocation_pools", "dns_nameservers", "host_routes",
     "enable_dhcp"}
)  # fmt: skip
_UNSET = object()


@dataclass(frozen=True)
class SubnetRequest:
    network_id: str
    ip_version: int
    cidr: str
    name: str = ""
    description: str = ""
    gateway_ip: Any = _UNSET  # a string, None (no gateway), or _UNSET (the first host)
    allocation_pools: Sequence[dict[str, str]] | None = None
    dns_nameservers: Sequence[str] = ()
    host_routes: Sequence[dict[str, str]] = ()
    enable_dhcp: bool = True
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None
    project_id: str | None = None


def get_subnet(session: Session, context: RequestContext, subnet_id: str) -> Subnet:
    subnet = session.get(Subnet, subnet_id)
    visible = subnet is not None and (
        context.owns(subnet.project_id)
        or session.scalar(visible_networks(context).where(Network.id == subnet.network_id))
    )
    if subnet is None or not visible:
        raise NotFound(f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
    return subnet


def list_subnets(session: Session, context: RequestContext) -> list[Subnet]:
    network_ids = select(visible_networks(context).subquery().c.id)
    query = select(Subnet).order_by(Subnet.created_at)
    if not context.is_admin_or_service:
        query = query.where(
            (Subnet.project_id == context.project_id) | Subnet.network_id.in_(network_ids)
        )
    return list(session.scalars(query))


def _gateway(request: SubnetRequest, network: ipam.IpNetwork) -> int | None:
    if request.gateway_ip is _UNSET:
        return ipam.default_gateway(network)
    if request.gateway_ip is None:
        return None
    return ipam.parse_address("gateway_ip", str(request.gateway_ip), network)


def _check_v6_modes(request: SubnetRequest) -> None:
    for name in ("ipv6_ra_mode", "ipv6_address_mode"):
        value = getattr(request, name)
        if value is None:
            continue
        if request.ip_version != 6:
            raise InvalidInput(f"Invalid input for {name}: only IPv6 subnets have one")
        if value not in IPV6_MODES:
            choices = ", ".join(sorted(IPV6_MODES))
            raise InvalidInput(f"Invalid input for {name}: '{value}' is not one of {choices}")


def _check_lists(dns_nameservers: Sequence[str], host_routes: Sequence[Mapping[str, str]]) -> None:
    for index, server in enumerate(dns_nameservers):
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidInput(
                f"Invalid input for dns_nameservers[{index}]: '{server}' is not an IP address"
            ) from None
    for index, route in enumerate(host_routes):
        try:
            ipaddress.ip_network(route["destination"])
            ipaddress.ip_address(route["nexthop"])
        except (KeyError, ValueError):
            raise InvalidInput(
                f"Invalid input for host_routes[{index}]: need a destination CIDR and a "
                "nexthop address"
            ) from None


def create_subnet(
    session: Session, context: RequestContext, request: SubnetRequest, now: datetime
) -> Subnet:
    context.require_write("Creating a subnet")
    network = get_network(session, context, request.network_id)
    if not context.owns(network.project_id):
        raise Forbidden(
            f"Only the owner of network {network.id} or an admin may add subnets to it",
            kind="PolicyNotAuthorized",
        )
    if request.ip_version not in (4, 6):
        raise InvalidInput(f"Invalid input for ip_version: {request.ip_version} is not 4 or 6")
    cidr = ipam.parse_cidr(request.cidr, request.ip_version)
    clash = ipam.overlaps(cidr, [s.cidr for s in network.subnets])
    if clash is not None:
        raise InvalidInput(
            f"Invalid input for cidr: requested subnet with cidr {cidr} for network "
            f"{network.id} overlaps with another subnet ({clash})"
        )
    _check_v6_modes(request)
    _check_lists(request.dns_nameservers, request.host_routes)
    gateway = _gateway(request, cidr)
    pools = (
        ipam.parse_pools(request.allocation_pools, cidr, gateway)
        if request.allocation_pools is not None
        else ipam.default_pools(cidr, gateway)
    )
    subnet = Subnet(
        id=str(uuid.uuid4()),
        project_id=request.project_id or network.project_id,
        network_id=network.id,
        name=request.name,
        description=request.description,
        ip_version=request.ip_version,
        cidr=str(cidr),
        gateway_ip=_text(gateway, cidr),
        allocation_pools=[p.as_dict() for p in pools],
        dns_nameservers=list(request.dns_nameservers),
        host_routes=[dict(r) for r in request.host_routes],
        enable_dhcp=request.enable_dhcp,
        ipv6_ra_mode=request.ipv6_ra_mode,
        ipv6_address_mode=request.ipv6_address_mode,
        created_at=now,
        updated_at=now,
        revision_number=1,
    )
    session.add(subnet)
    session.commit()
    return subnet


def _text(address: int | None, network: ipam.IpNetwork) -> str | None:
    return ipam.address_text(address, network.version) if address is not None else None


def _owned_subnet(session: Session, context: RequestContext, subnet_id: str) -> Subnet:
    subnet = get_subnet(session, context, subnet_id)
    if not context.owns(subnet.project_id):
        raise Forbidden(f"Subnet {subnet_id} belongs to another project",
                        kind="PolicyNotAuthorized")  # fmt: skip
    context.require_write("Changing a subnet")
    return subnet


def update_subnet(
    session: Session,
    context: RequestContext,
    subnet_id: str,
    changes: Mapping[str, Any],
    now: datetime,
) -> Subnet:
    subnet = _owned_subnet(session, context, subnet_id)
    refused = sorted(set(changes) - UPDATABLE)
    if refused:
        raise InvalidInput(f"Cannot update read-only attribute(s): {', '.join(refused)}")
    cidr = ipaddress.ip_network(subnet.cidr)
    gateway_text = changes.get("gateway_ip", subnet.gateway_ip)
    gateway = ipam.parse_address("gateway_ip", gateway_text, cidr) if gateway_text else None
    pools_raw = changes.get("allocation_pools")
    if pools_raw is not None or "gateway_ip" in changes:
        pools = ipam.parse_pools(pools_raw or subnet.allocation_pools, cidr, gateway)
        subnet.allocation_pools = [p.as_dict() for p in pools]
    _check_lists(changes.get("dns_nameservers") or (), changes.get("host_routes") or ())
    for name in ("name", "description", "dns_nameservers", "host_routes", "enable_dhcp"):
        if name in changes and changes[name] is not None:
            setattr(subnet, name, changes[name])
    subnet.gateway_ip = _text(gateway, cidr)
    subnet.updated_at = now
    subnet.revision_number += 1
    session.commit()
    return subnet


def delete_subnet(session: Session, context: RequestContext, subnet_id: str) -> None:
    subnet = _owned_subnet(session, context, subnet_id)
    if session.scalar(select(exists().where(IpAllocation.subnet_id == subnet_id))):
        raise Conflict(
            f"Unable to complete operation on subnet {subnet_id}: one or more ports have an "
            "IP allocation from this subnet.",
            kind="SubnetInUse",
        )
    session.delete(subnet)
    session.commit()
