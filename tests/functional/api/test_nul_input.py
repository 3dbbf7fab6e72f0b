"""NUL characters anywhere in a request are a 400 naming where they are, on every backend
(PostgreSQL cannot store them: they were a 500 there)."""

from __future__ import annotations

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import make_network

SUBNETS = "/network/v2.0/subnets"


def test_a_nul_in_a_body_field_is_400_naming_the_field(api: Api) -> None:
    network_id = make_network(api, vlan=101)
    body = {"subnet": {"network_id": network_id, "cidr": "10.0.0.0/24", "ip_version": 4,
                       "name": "a\x00b"}}  # fmt: skip
    response = api.post("admin", SUBNETS, body)
    assert response.status_code == 400
    assert response.json()["NeutronError"]["message"] == (
        "Invalid input for subnet.name: NUL characters are not allowed"
    )
    assert api.get("admin", SUBNETS).json()["subnets"] == []


def test_a_nul_deep_in_a_list_is_named_with_its_index(api: Api) -> None:
    network_id = make_network(api, vlan=101)
    routes = [{"destination": "10.1.0.0/16", "nexthop": "10.0.0.5"},
              {"destination": "10.2.0.0/16", "nexthop": "10.0.0.\x006"}]  # fmt: skip
    body = {"subnet": {"network_id": network_id, "cidr": "10.0.0.0/24", "ip_version": 4,
                       "host_routes": routes}}  # fmt: skip
    message = api.post("admin", SUBNETS, body).json()["NeutronError"]["message"]
    assert message.startswith("Invalid input for subnet.host_routes[1].nexthop:")


def test_a_nul_in_the_path_or_query_is_400(api: Api) -> None:
    response = api.get("admin", "/network/v2.0/ports/abc%00def")
    assert response.status_code == 400
    assert "the URL path" in response.json()["NeutronError"]["message"]
    response = api.get("admin", "/network/v2.0/ports?name=x%00y")
    assert response.status_code == 400
    assert "query parameter 'name'" in response.json()["NeutronError"]["message"]


def test_other_apis_answer_in_their_own_shape(api: Api) -> None:
    body = {"server": {"name": "vm\x00", "flavorRef": "1", "networks": "none"}}
    response = api.post("admin", "/compute/v2.1/servers", body)
    assert response.status_code == 400
    assert response.json()["badRequest"]["message"] == (
        "Invalid input for server.name: NUL characters are not allowed"
    )


def test_bodies_without_nul_reach_the_api_unchanged(api: Api) -> None:
    network_id = make_network(api, vlan=101)
    body = {"subnet": {"network_id": network_id, "cidr": "10.0.0.0/24", "ip_version": 4,
                       "name": "a\\u0000b is text, not a NUL"}}  # fmt: skip
    response = api.post("admin", SUBNETS, body)
    assert response.status_code == 201, response.text
    assert response.json()["subnet"]["name"] == "a\\u0000b is text, not a NUL"
