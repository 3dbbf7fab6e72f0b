"""IP address management for ports: fixed_ips from a network's subnets.

An address is held by a row in ``ip_allocations`` whose primary key is
(subnet_id, ip_address), so two ports can never hold the same address.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vfplane.db.tables import IpAllocation, Network, Subnet
from vfplane.errors import Conflict, InvalidInput


@dataclass(frozen=True)
class FixedIpRequest:
    """One ``fixed_ips`` entry: a subnet, an address, or both."""

    subnet_id: str | None = None
    ip_address: str | None = None


SPREAD = 32


def pool_addresses(subnet: Subnet) -> Iterator[str]:
    for pool in subnet.allocation_pools:
        first = ipaddress.ip_address(pool["start"])
        last = int(ipaddress.ip_address(pool["end"]))
        for number in range(int(first), last + 1):
            yield str(
                ipaddress.ip_address(number)
                if first.version == 4
                else ipaddress.IPv6Address(number)
            )


def _used(session: Session, subnet_id: str) -> set[str]:
    rows = session.scalars(
        select(IpAllocation.ip_address).where(IpAllocation.subnet_id == subnet_id)
    )
    return set(rows)


def _free_address(session: Session, subnet: Subnet, spread: bool = False) -> str:
    """The lowest free address; with ``spread`` (after a lost race) one of the lowest
    ``SPREAD`` free ones at random, so that concurrent requests stop picking the same."""
    used = _used(session, subnet.id)
    free = (address for address in pool_addresses(subnet) if address not in used)
    candidates = list(itertools.islice(free, SPREAD if spread else 1))
    if candidates:
        return random.choice(candidates)
    raise Conflict(
        f"No more IP addresses available on network {subnet.network_id} (subnet {subnet.id}).",
        kind="IpAddressGenerationFailure",
    )


def _subnet_for(network: Network, request: FixedIpRequest) -> Subnet:
    if request.subnet_id is not None:
        for subnet in network.subnets:
            if subnet.id == request.subnet_id:
                return subnet
        raise InvalidInput(
            f"Invalid input for fixed_ips: subnet {request.subnet_id} is not on network "
            f"{network.id}"
        )
    assert request.ip_address is not None
    address = ipaddress.ip_address(request.ip_address)
    for subnet in network.subnets:
        if address in ipaddress.ip_network(subnet.cidr):
            return subnet
    raise InvalidInput(
        f"Invalid input for fixed_ips: {request.ip_address} is in no subnet of network {network.id}"
    )


def _check_address(subnet: Subnet, text: str) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidInput(f"Invalid input for fixed_ips: '{text}' is not an IP address") from None
    network = ipaddress.ip_network(subnet.cidr)
    if address not in network or address in (network.network_address, network.broadcast_address):
        raise InvalidInput(
            f"Invalid input for fixed_ips: {text} is not a usable address of {subnet.cidr}"
        )
    if subnet.gateway_ip and text == subnet.gateway_ip:
        raise Conflict(
            f"IP address {text} already allocated in subnet {subnet.id} (it is the gateway).",
            kind="IpAddressAlreadyAllocated",
        )
    return str(address)


def plan_fixed_ips(
    session: Session, network: Network, requested: Sequence[FixedIpRequest] | None,
    spread: bool = False,
) -> list[tuple[str, str]]:  # fmt: skip
    """(subnet_id, address) pairs for a new port; one per IPv4/IPv6 subnet by default.
    ``spread`` picks free addresses at random among the lowest (see ``_free_address``)."""
    if requested is None:
        chosen: dict[int, Subnet] = {}
        for subnet in network.subnets:
            chosen.setdefault(subnet.ip_version, subnet)
        return [(s.id, _free_address(session, s, spread)) for s in chosen.values()]
    plan: list[tuple[str, str]] = []
    for entry in requested:
        if entry.subnet_id is None and entry.ip_address is None:
            raise InvalidInput("Invalid input for fixed_ips: give subnet_id, ip_address or both")
        subnet = _subnet_for(network, entry)
        if entry.ip_address is None:
            taken = {a for s, a in plan if s == subnet.id}
            address = next(
                (a for a in pool_addresses(subnet) if a not in _used(session, subnet.id) | taken),
                None,
            )
            if address is None:
                _free_address(session, subnet)  # raises the exhaustion error
        else:
            address = _check_address(subnet, entry.ip_address)
        assert address is not None
        plan.append((subnet.id, address))
    return plan


def assign_fixed_ips(port_id: str, plan: Sequence[tuple[str, str]]) -> list[IpAllocation]:
    """Allocation rows for ``plan``; adding them to the session claims the addresses.

    A clash with another port surfaces as an IntegrityError at flush/commit, which
    the caller turns into a 409 (``IpAddressAlreadyAllocated``).
    """
    return [IpAllocation(subnet_id=s, ip_address=a, port_id=port_id) for s, a in plan]


def address_conflict(plan: Sequence[tuple[str, str]]) -> Conflict:
    listed = ", ".join(a for _, a in plan)
    return Conflict(
        f"IP address {listed} already allocated on the network.", kind="IpAddressAlreadyAllocated"
    )
