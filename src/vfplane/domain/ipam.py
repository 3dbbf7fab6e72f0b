"""Subnet address rules: CIDRs, gateways and allocation pools (Neutron's semantics).

Addresses are handled as integers with the subnet's IP version beside them, which
keeps IPv4 and IPv6 in one code path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from vfplane.errors import InvalidInput

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_text(number: int, version: int) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(number))
    return str(ipaddress.IPv6Address(number))


@dataclass(frozen=True)
class Pool:
    start: int
    end: int
    version: int

    def as_dict(self) -> dict[str, str]:
        return {
            "start": address_text(self.start, self.version),
            "end": address_text(self.end, self.version),
        }

    def holds(self, number: int) -> bool:
        return self.start <= number <= self.end


def parse_cidr(cidr: str, ip_version: int) -> IpNetwork:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise InvalidInput(f"Invalid input for cidr: '{cidr}' is not a valid IP subnet") from None
    if str(network) != cidr.strip().lower():
        raise InvalidInput(
            f"Invalid input for cidr: '{cidr}' isn't a recommended CIDR, '{network}' is recommended"
        )
    if network.version != ip_version:
        raise InvalidInput(
            f"Invalid input for cidr: {cidr} is an IPv{network.version} subnet but ip_version "
            f"is {ip_version}"
        )
    if network.num_addresses < (4 if network.version == 4 else 2):
        raise InvalidInput(f"Invalid input for cidr: {cidr} is too small to hold ports")
    return network


def host_range(network: IpNetwork) -> tuple[int, int]:
    """First and last assignable address: no network address, no IPv4 broadcast."""
    first = int(network.network_address) + 1
    last = int(network.broadcast_address) - (1 if network.version == 4 else 0)
    return first, last


def parse_address(field: str, text: str, network: IpNetwork) -> int:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidInput(f"Invalid input for {field}: '{text}' is not an IP address") from None
    first, last = host_range(network)
    if address.version != network.version or not first <= int(address) <= last:
        raise InvalidInput(
            f"Invalid input for {field}: {text} is not a usable address of {network}"
        )
    return int(address)


def default_gateway(network: IpNetwork) -> int:
    return host_range(network)[0]


def default_pools(network: IpNetwork, gateway: int | None) -> list[Pool]:
    """Every assignable address except the gateway, as one or two ranges."""
    first, last = host_range(network)
    version = network.version
    if gateway is None or not first <= gateway <= last:
        return [Pool(first, last, version)]
    pools = []
    if gateway > first:
        pools.append(Pool(first, gateway - 1, version))
    if gateway < last:
        pools.append(Pool(gateway + 1, last, version))
    return pools


def parse_pools(
    raw: Sequence[dict[str, str]], network: IpNetwork, gateway: int | None
) -> list[Pool]:
    """Explicit pools: inside the subnet, start ≤ end, disjoint, not holding the gateway."""
    pools: list[Pool] = []
    for index, entry in enumerate(raw):
        field = f"allocation_pools[{index}]"
        start = parse_address(f"{field}.start", entry["start"], network)
        end = parse_address(f"{field}.end", entry["end"], network)
        if start > end:
            raise InvalidInput(
                f"Invalid input for {field}: start {entry['start']} is after end {entry['end']}"
            )
        pools.append(Pool(start, end, network.version))
    ordered = sorted(pools, key=lambda p: p.start)
    for before, after in pairwise(ordered):
        if after.start <= before.end:
            a, b = before.as_dict(), after.as_dict()
            raise InvalidInput(
                f"Invalid input for allocation_pools: {a['start']}-{a['end']} overlaps "
                f"{b['start']}-{b['end']}"
            )
    if gateway is not None and any(pool.holds(gateway) for pool in pools):
        raise InvalidInput(
            f"Invalid input for allocation_pools: gateway ip "
            f"{address_text(gateway, network.version)} conflicts with an allocation pool"
        )
    return ordered


def overlaps(network: IpNetwork, others: Sequence[str]) -> str | None:
    for other in others:
        candidate = ipaddress.ip_network(other)
        if candidate.version == network.version and candidate.overlaps(network):
            return other
    return None
