"""Networks: provider and tenant networks, VLAN allocation, visibility, policies."""

from __future__ import annotations

import pytest

from tests.functional.api.conftest import Api

NETS = "/network/v2.0/networks"


def _provider(name: str, kind: str = "vlan", physnet: str = "physnet1", vlan: object = "100"):
    body: dict[str, object] = {
        "name": name,
        "admin_state_up": True,
        "provider:network_type": kind,
        "provider:physical_network": physnet,
    }
    if vlan is not None:
        body["provider:segmentation_id"] = vlan
    return {"network": body}


def test_admin_creates_a_vlan_provider_network(api: Api) -> None:
    response = api.post("admin", NETS, _provider("net1"))
    assert response.status_code == 201, response.text
    network = response.json()["network"]
    assert network["provider:segmentation_id"] == 100  # the CLI sends it as a string
    assert network["provider:physical_network"] == "physnet1"
    assert network["status"] == "ACTIVE"
    assert network["subnets"] == []
    assert network["mtu"] == 1500


def test_vlan_in_use_is_a_conflict(api: Api) -> None:
    assert api.post("admin", NETS, _provider("a")).status_code == 201
    response = api.post("admin", NETS, _provider("b"))
    assert response.status_code == 409
    error = response.json()["NeutronError"]
    assert error["type"] == "VlanIdInUse"
    assert "The VLAN 100 on physical network physnet1 is in use" in error["message"]
    assert api.post("admin", NETS, _provider("c", physnet="physnet2")).status_code == 201


def test_flat_network_once_per_physnet(api: Api) -> None:
    assert api.post("admin", NETS, _provider("f1", "flat", "physnet9", None)).status_code == 201
    again = api.post("admin", NETS, _provider("f2", "flat", "physnet9", None))
    assert again.status_code == 409
    assert again.json()["NeutronError"]["type"] == "FlatNetworkInUse"


def test_provider_vlan_without_segment_takes_one_from_its_range(api: Api) -> None:
    created = api.post("admin", NETS, _provider("auto", vlan=None)).json()["network"]
    assert created["provider:segmentation_id"] == 100


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_provider("x", kind="vxlan"), "provider:network_type"),
        (_provider("x", physnet="physnet7"), "provider:physical_network"),
        (_provider("x", vlan=4095), "provider:segmentation_id"),
        (_provider("x", vlan="abc"), "provider:segmentation_id"),
        (_provider("x", kind="flat", vlan=5), "provider:segmentation_id"),
        ({"network": {"name": "x", "colour": "red"}}, "network.colour"),
        ({"network": {"mtu": 20}}, "network.mtu"),
        ({"network": {"admin_state_up": "maybe"}}, "network.admin_state_up"),
        ({"net": {}}, "network"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(api: Api, body: object, field: str) -> None:
    response = api.post("admin", NETS, body)
    assert response.status_code == 400, response.text
    assert field in response.json()["NeutronError"]["message"]


def test_members_get_tenant_vlans_and_cannot_set_provider_attributes(api: Api) -> None:
    first = api.post("demo", NETS, {"network": {"name": "t1"}})
    assert first.status_code == 201
    assert "provider:segmentation_id" not in first.json()["network"]
    second = api.post("demo", NETS, {"network": {"name": "t2"}}).json()["network"]
    admin_view = api.get("admin", f"{NETS}/{second['id']}").json()["network"]
    assert admin_view["provider:network_type"] == "vlan"
    assert admin_view["provider:segmentation_id"] == 101
    forbidden = api.post("demo", NETS, _provider("p"))
    assert forbidden.status_code == 403
    assert api.post("demo", NETS, {"network": {"shared": True}}).status_code == 403


def test_tenant_vlans_run_out_with_a_clear_error(api: Api) -> None:
    for _ in range(12):  # physnet1 has 10 VLANs, physnet2 has 2
        assert api.post("demo", NETS, {"network": {}}).status_code == 201
    response = api.post("demo", NETS, {"network": {}})
    assert response.status_code == 409
    assert "No tenant network is available" in response.json()["NeutronError"]["message"]


def test_other_projects_cannot_see_private_networks(api: Api) -> None:
    private = api.post("demo", NETS, {"network": {"name": "mine"}}).json()["network"]
    shared = api.post("admin", NETS, {"network": {"name": "pub", "shared": True}}).json()
    path = f"{NETS}/{private['id']}"
    assert api.get("other", path).status_code == 404
    assert api.put("other", path, {"network": {"name": "x"}}).status_code == 404
    assert api.delete("other", path).status_code == 404
    names = {n["name"] for n in api.get("other", NETS).json()["networks"]}
    assert names == {"pub"}
    assert api.get("other", f"{NETS}/{shared['network']['id']}").status_code == 200
    assert {n["name"] for n in api.get("admin", NETS).json()["networks"]} == {"mine", "pub"}


def test_shared_network_is_read_only_for_others(api: Api) -> None:
    shared = api.post("admin", NETS, {"network": {"name": "pub", "shared": True}}).json()
    path = f"{NETS}/{shared['network']['id']}"
    assert api.put("demo", path, {"network": {"name": "mine"}}).status_code == 403
    assert api.delete("demo", path).status_code == 403


def test_readers_cannot_create(api: Api) -> None:
    response = api.post("reader", NETS, {"network": {"name": "r"}})
    assert response.status_code == 403
    assert response.json()["NeutronError"]["type"] == "PolicyNotAuthorized"


def test_update_and_revision(api: Api) -> None:
    created = api.post("demo", NETS, {"network": {"name": "old"}}).json()["network"]
    path = f"{NETS}/{created['id']}"
    updated = api.put("demo", path, {"network": {"name": "new", "mtu": 9000}}).json()["network"]
    assert (updated["name"], updated["mtu"], updated["revision_number"]) == ("new", 9000, 2)
    assert api.put("demo", path, {"network": {"shared": True}}).status_code == 403
    read_only = api.put("demo", path, {"network": {"provider:network_type": "flat"}})
    assert read_only.status_code == 400


def test_filters_fields_and_paging(api: Api) -> None:
    for name in ("a", "b", "c"):
        api.post("admin", NETS, {"network": {"name": name}})
    assert [n["name"] for n in api.get("admin", f"{NETS}?name=b").json()["networks"]] == ["b"]
    only = api.get("admin", f"{NETS}?fields=id&fields=name").json()["networks"]
    assert all(set(n) == {"id", "name"} for n in only)
    page = api.get("admin", f"{NETS}?limit=2&sort_key=name").json()
    assert [n["name"] for n in page["networks"]] == ["a", "b"]
    next_href = page["networks_links"][0]["href"]
    rest = api.client.get(next_href, headers={"X-Auth-Token": api.tokens["admin"]}).json()
    assert [n["name"] for n in rest["networks"]] == ["c"]
    vlan = api.get("admin", f"{NETS}?provider%3Anetwork_type=vlan").json()["networks"]
    assert len(vlan) == 3


def test_delete_removes_subnets_but_not_with_ports(api: Api) -> None:
    network = api.post("demo", NETS, {"network": {"name": "n"}}).json()["network"]
    body = {"subnet": {"network_id": network["id"], "ip_version": 4, "cidr": "10.0.0.0/24"}}
    subnet = api.post("demo", "/network/v2.0/subnets", body).json()["subnet"]
    assert api.delete("demo", f"{NETS}/{network['id']}").status_code == 204
    assert api.get("demo", f"/network/v2.0/subnets/{subnet['id']}").status_code == 404


def test_unknown_network_is_404(api: Api) -> None:
    response = api.get("demo", f"{NETS}/nope")
    assert response.status_code == 404
    assert response.json()["NeutronError"]["type"] == "NetworkNotFound"


def test_extensions_are_listed(api: Api) -> None:
    aliases = {e["alias"] for e in api.get("demo", "/network/v2.0/extensions").json()["extensions"]}
    assert {"binding", "provider", "qos", "binding-extended"} <= aliases
    assert api.get("demo", "/network/v2.0/extensions/binding").status_code == 200
    assert api.get("demo", "/network/v2.0/extensions/nope").status_code == 404


def test_unknown_route_has_the_neutron_error_shape(api: Api) -> None:
    response = api.get("demo", "/network/v2.0/widgets")
    assert response.status_code == 404
    assert "NeutronError" in response.json()


def test_qos_policy_must_be_visible(api: Api) -> None:
    private = api.post("other", "/network/v2.0/qos/policies", {"policy": {"name": "q"}}).json()
    body = {"network": {"name": "n", "qos_policy_id": private["policy"]["id"]}}
    assert api.post("demo", NETS, body).status_code == 404
    missing = api.post("demo", NETS, {"network": {"qos_policy_id": "nope"}})
    assert missing.status_code == 404
    network = api.post("demo", NETS, {"network": {"name": "n"}}).json()["network"]
    update = {"network": {"qos_policy_id": private["policy"]["id"]}}
    assert api.put("demo", f"{NETS}/{network['id']}", update).status_code == 404
    own = api.post("demo", "/network/v2.0/qos/policies", {"policy": {"name": "mine"}}).json()
    update = {"network": {"qos_policy_id": own["policy"]["id"]}}
    attached = api.put("demo", f"{NETS}/{network['id']}", update).json()["network"]
    assert attached["qos_policy_id"] == own["policy"]["id"]
