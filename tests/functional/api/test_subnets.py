"""Subnets: IPv4 and IPv6, gateways and allocation pools, validation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.conftest import Api

SUBNETS = "/network/v2.0/subnets"


@pytest.fixture
def network_id(api: Api) -> str:
    return str(
        api.post("demo", "/network/v2.0/networks", {"network": {"name": "n"}}).json()["network"][
            "id"
        ]
    )


def _subnet(network_id: str, cidr: str = "10.0.0.0/24", **extra: Any) -> dict[str, Any]:
    return {"subnet": {"network_id": network_id, "ip_version": 4, "cidr": cidr, **extra}}


def test_ipv4_defaults(api: Api, network_id: str) -> None:
    response = api.post("demo", SUBNETS, _subnet(network_id, name="sub1"))
    assert response.status_code == 201, response.text
    subnet = response.json()["subnet"]
    assert subnet["gateway_ip"] == "10.0.0.1"
    assert subnet["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert subnet["dns_nameservers"] == []
    assert subnet["host_routes"] == []
    network = api.get("demo", f"/network/v2.0/networks/{network_id}").json()["network"]
    assert network["subnets"] == [subnet["id"]]


def test_ipv6_subnet(api: Api, network_id: str) -> None:
    body = {"subnet": {"network_id": network_id, "ip_version": 6, "cidr": "2001:db8::/64",
                       "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}}  # fmt: skip
    subnet = api.post("demo", SUBNETS, body).json()["subnet"]
    assert subnet["gateway_ip"] == "2001:db8::1"
    assert subnet["allocation_pools"] == [
        {"start": "2001:db8::2", "end": "2001:db8::ffff:ffff:ffff:ffff"}
    ]


def test_gateway_in_the_middle_splits_the_pool_and_null_means_none(
    api: Api, network_id: str
) -> None:
    middle = api.post("demo", SUBNETS, _subnet(network_id, "10.1.0.0/29", gateway_ip="10.1.0.4"))
    assert middle.json()["subnet"]["allocation_pools"] == [
        {"start": "10.1.0.1", "end": "10.1.0.3"},
        {"start": "10.1.0.5", "end": "10.1.0.6"},
    ]
    none = api.post("demo", SUBNETS, _subnet(network_id, "10.2.0.0/30", gateway_ip=None))
    assert none.json()["subnet"]["gateway_ip"] is None
    assert none.json()["subnet"]["allocation_pools"] == [{"start": "10.2.0.1", "end": "10.2.0.2"}]


@pytest.mark.parametrize(
    ("extra", "cidr", "field"),
    [
        ({}, "10.0.0.5/24", "isn't a recommended CIDR"),
        ({}, "10.0.0.0/33", "cidr"),
        ({"ip_version": 6}, "10.0.0.0/24", "ip_version is 6"),
        ({"ip_version": 5}, "10.0.0.0/24", "ip_version"),
        ({"gateway_ip": "10.9.0.1"}, "10.0.0.0/24", "gateway_ip"),
        ({"allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.5"}]}, "10.0.0.0/24",
         "allocation_pools[0]"),
        ({"allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.5"}]}, "10.0.0.0/24",
         "conflicts with an allocation pool"),
        ({"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"},
                               {"start": "10.0.0.8", "end": "10.0.0.20"}]}, "10.0.0.0/24",
         "overlaps"),
        ({"dns_nameservers": ["dns.example"]}, "10.0.0.0/24", "dns_nameservers[0]"),
        ({"host_routes": [{"destination": "x", "nexthop": "10.0.0.1"}]}, "10.0.0.0/24",
         "host_routes[0]"),
        ({"ipv6_ra_mode": "slaac"}, "10.0.0.0/24", "ipv6_ra_mode"),
        ({"colour": "red"}, "10.0.0.0/24", "subnet.colour"),
    ],
)  # fmt: skip
def test_invalid_subnets_are_400_naming_the_field(
    api: Api, network_id: str, extra: dict[str, Any], cidr: str, field: str
) -> None:
    response = api.post("demo", SUBNETS, _subnet(network_id, cidr, **extra))
    assert response.status_code == 400, response.text
    assert field in response.json()["NeutronError"]["message"]


def test_overlapping_subnets_on_one_network_are_refused(api: Api, network_id: str) -> None:
    assert api.post("demo", SUBNETS, _subnet(network_id, "10.0.0.0/16")).status_code == 201
    response = api.post("demo", SUBNETS, _subnet(network_id, "10.0.5.0/24"))
    assert response.status_code == 400
    assert "overlaps with another subnet" in response.json()["NeutronError"]["message"]


def test_subnets_of_other_projects_are_hidden(api: Api, network_id: str) -> None:
    subnet = api.post("demo", SUBNETS, _subnet(network_id)).json()["subnet"]
    assert api.get("other", f"{SUBNETS}/{subnet['id']}").status_code == 404
    assert api.get("other", SUBNETS).json()["subnets"] == []
    assert api.post("other", SUBNETS, _subnet(network_id, "10.5.0.0/24")).status_code == 404


def test_subnet_on_a_shared_network_only_by_its_owner(api: Api) -> None:
    shared = api.post("admin", "/network/v2.0/networks", {"network": {"shared": True}}).json()
    response = api.post("demo", SUBNETS, _subnet(shared["network"]["id"]))
    assert response.status_code == 403


def test_update_and_delete(api: Api, network_id: str) -> None:
    subnet = api.post("demo", SUBNETS, _subnet(network_id)).json()["subnet"]
    path = f"{SUBNETS}/{subnet['id']}"
    pools = [{"start": "10.0.0.100", "end": "10.0.0.200"}]
    body = {
        "subnet": {"name": "renamed", "dns_nameservers": ["10.0.0.53"], "allocation_pools": pools}
    }
    updated = api.put("demo", path, body).json()["subnet"]
    assert updated["name"] == "renamed"
    assert updated["dns_nameservers"] == ["10.0.0.53"]
    assert updated["allocation_pools"] == [{"start": "10.0.0.100", "end": "10.0.0.200"}]
    assert api.put("demo", path, {"subnet": {"cidr": "10.1.0.0/24"}}).status_code == 400
    assert api.delete("other", path).status_code == 404
    assert api.delete("demo", path).status_code == 204
    assert api.get("demo", path).status_code == 404
