"""Subnet address rules."""

from __future__ import annotations

import ipaddress

import pytest

from vfplane.domain import ipam
from vfplane.errors import InvalidInput


def test_default_pools_skip_network_broadcast_and_gateway() -> None:
    network = ipam.parse_cidr("192.168.1.0/24", 4)
    gateway = ipam.default_gateway(network)
    pools = [p.as_dict() for p in ipam.default_pools(network, gateway)]
    assert pools == [{"start": "192.168.1.2", "end": "192.168.1.254"}]


def test_ipv6_keeps_the_last_address() -> None:
    network = ipam.parse_cidr("2001:db8::/126", 6)
    pools = [p.as_dict() for p in ipam.default_pools(network, None)]
    assert pools == [{"start": "2001:db8::1", "end": "2001:db8::3"}]


def test_parse_pools_orders_and_checks() -> None:
    network = ipam.parse_cidr("10.0.0.0/24", 4)
    raw = [{"start": "10.0.0.50", "end": "10.0.0.60"}, {"start": "10.0.0.10", "end": "10.0.0.20"}]
    pools = ipam.parse_pools(raw, network, int(ipaddress.ip_address("10.0.0.1")))
    assert [p.as_dict()["start"] for p in pools] == ["10.0.0.10", "10.0.0.50"]
    with pytest.raises(InvalidInput, match=r"allocation_pools\[0\]\.end"):
        ipam.parse_pools([{"start": "10.0.0.5", "end": "10.0.1.5"}], network, None)


@pytest.mark.parametrize(
    ("cidr", "version", "message"),
    [
        ("10.0.0.1/24", 4, "recommended"),
        ("10.0.0.0/31", 4, "too small"),
        ("nonsense", 4, "not a valid IP subnet"),
        ("2001:db8::/64", 4, "IPv6 subnet but ip_version is 4"),
    ],
)
def test_parse_cidr_errors(cidr: str, version: int, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ipam.parse_cidr(cidr, version)


def test_overlaps() -> None:
    network = ipam.parse_cidr("10.0.0.0/24", 4)
    assert ipam.overlaps(network, ["10.1.0.0/16", "10.0.0.128/25"]) == "10.0.0.128/25"
    assert ipam.overlaps(network, ["2001:db8::/64"]) is None
