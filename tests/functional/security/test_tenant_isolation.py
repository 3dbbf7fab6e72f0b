"""Another project's networks, subnets, ports, servers and QoS policies do not exist for you.

Show, update and delete of a private resource of another project answer 404 (never 403, which
would confirm the id, nor 200), and lists leave it out. Shared networks and policies are
visible to every project, as in Neutron, but only their owner (or an admin) changes them.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import NETS, PORTS, SUBNETS, make_network, make_subnet
from tests.functional.api.test_server_lifecycle import NEW, SERVERS, _boot, _network, _register

POLICIES = "/network/v2.0/qos/policies"
PLURAL = {"network": "networks", "subnet": "subnets", "port": "ports", "policy": "policies"}


def _create(api: Api, who: str, path: str, kind: str, body: dict[str, Any]) -> str:
    response = api.post(who, path, {kind: body})
    assert response.status_code == 201, response.text
    return str(response.json()[kind]["id"])


def _assert_hidden(api: Api, path: str, kind: str, body: dict[str, Any], **kwargs: Any) -> None:
    """``other`` gets 404 on show, update and delete of ``path`` and does not list it."""
    collection, item_id = path.rsplit("/", 1)
    assert api.get("other", path, **kwargs).status_code == 404
    assert api.put("other", path, {kind: body}, **kwargs).status_code == 404
    assert api.delete("other", path, **kwargs).status_code == 404
    listed = api.get("other", collection, **kwargs)
    assert listed.status_code == 200, listed.text
    assert item_id not in {item["id"] for item in listed.json()[PLURAL[kind]]}
    assert api.get("demo", path, **kwargs).status_code == 200  # still there for its owner


def test_another_projects_network_subnet_and_port_are_404(api: Api) -> None:
    network_id = _create(api, "demo", NETS, "network", {"name": "mine"})
    subnet_id = make_subnet(api, network_id, who="demo")
    port_id = _create(api, "demo", PORTS, "port", {"network_id": network_id})
    _assert_hidden(api, f"{NETS}/{network_id}", "network", {"name": "x"})
    _assert_hidden(api, f"{SUBNETS}/{subnet_id}", "subnet", {"name": "x"})
    _assert_hidden(api, f"{PORTS}/{port_id}", "port", {"name": "x"})
    assert api.get("other", f"{PORTS}?network_id={network_id}").json()["ports"] == []


def test_another_projects_qos_policy_is_404(api: Api) -> None:
    policy_id = _create(api, "demo", POLICIES, "policy", {"name": "mine"})
    _assert_hidden(api, f"{POLICIES}/{policy_id}", "policy", {"name": "x"})
    rule = {"bandwidth_limit_rule": {"max_kbps": 1000}}
    rules = f"{POLICIES}/{policy_id}/bandwidth_limit_rules"
    assert api.post("other", rules, rule).status_code == 404
    assert api.post("demo", rules, rule).status_code == 201


def test_another_projects_server_is_404(api: Api) -> None:
    _register(api)
    server_id = _boot(api, _network(api))
    path = f"{SERVERS}/{server_id}"
    assert api.get("other", path, headers=NEW).status_code == 404
    # Servers have no PUT here; their changes are actions.
    stop = {"os-stop": None}
    assert api.post("other", f"{path}/action", stop, headers=NEW).status_code == 404
    assert api.get("other", f"/v1/servers/{server_id}/explain").status_code == 404
    assert api.get("other", f"/v1/servers/{server_id}/domain").status_code == 404
    assert api.get("other", f"{path}/os-interface", headers=NEW).status_code == 404
    assert api.delete("other", path, headers=NEW).status_code == 404
    for listing in (SERVERS, f"{SERVERS}/detail"):
        listed = api.get("other", listing, headers=NEW).json()["servers"]
        assert server_id not in {s["id"] for s in listed}
    assert api.get("demo", path, headers=NEW).json()["server"]["status"] == "ACTIVE"


@pytest.mark.parametrize("kind", ["network", "policy"])
def test_shared_resources_are_visible_but_only_their_owner_changes_them(
    api: Api, kind: str
) -> None:
    path = NETS if kind == "network" else POLICIES
    item_id = _create(api, "admin", path, kind, {"name": "pub", "shared": True})
    assert api.get("other", f"{path}/{item_id}").status_code == 200
    assert item_id in {i["id"] for i in api.get("other", path).json()[PLURAL[kind]]}
    update = api.put("other", f"{path}/{item_id}", {kind: {"name": "taken"}})
    assert update.status_code == 403
    assert api.delete("other", f"{path}/{item_id}").status_code == 403
    assert api.get("admin", f"{path}/{item_id}").json()[kind]["name"] == "pub"


def test_no_port_on_another_projects_private_network(api: Api) -> None:
    network_id = _create(api, "demo", NETS, "network", {"name": "mine"})
    make_subnet(api, network_id, who="demo")
    response = api.post("other", PORTS, {"port": {"network_id": network_id}})
    assert response.status_code == 404
    assert api.get("admin", f"{PORTS}?network_id={network_id}").json()["ports"] == []
    shared = make_network(api, kind=None, shared=True)
    make_subnet(api, shared, cidr="10.0.1.0/24")
    assert api.post("other", PORTS, {"port": {"network_id": shared}}).status_code == 201


def test_no_boot_with_another_projects_port(api: Api) -> None:
    _register(api)
    network_id = _network(api)
    port_id = _create(api, "demo", PORTS, "port", {"network_id": network_id})
    flavor = api.get("admin", "/compute/v2.1/flavors").json()["flavors"]
    flavor_id = flavor[0]["id"] if flavor else _flavor_id(api)
    body = {"server": {"name": "vm", "flavorRef": flavor_id, "networks": [{"port": port_id}]}}
    response = api.post("other", SERVERS, body, headers=NEW)
    assert response.status_code in (400, 404), response.text
    assert port_id in response.text  # the fault names the port it could not find
    _assert_port_untouched(api, port_id)


def test_no_interface_attach_of_another_projects_port(api: Api) -> None:
    _register(api)
    network_id = _network(api)
    server_id = _boot(api, network_id)  # demo's server
    port_id = _create(api, "other", PORTS, "port", {"network_id": network_id})
    body = {"interfaceAttachment": {"port_id": port_id}}
    response = api.post("demo", f"{SERVERS}/{server_id}/os-interface", body, headers=NEW)
    assert response.status_code in (400, 404), response.text
    _assert_port_untouched(api, port_id)
    interfaces = api.get("demo", f"{SERVERS}/{server_id}/os-interface", headers=NEW).json()
    assert port_id not in {i["port_id"] for i in interfaces["interfaceAttachments"]}


def _flavor_id(api: Api) -> str:
    body = {"flavor": {"name": "sec", "vcpus": 1, "ram": 512, "disk": 1}}
    return str(api.post("admin", "/compute/v2.1/flavors", body).json()["flavor"]["id"])


def _assert_port_untouched(api: Api, port_id: str) -> None:
    port = api.get("admin", f"{PORTS}/{port_id}").json()["port"]
    assert (port["device_id"], port["binding:host_id"]) == ("", "")
