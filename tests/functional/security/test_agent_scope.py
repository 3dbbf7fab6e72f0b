"""An agent's credentials act for its own host only.

``agent-c1`` is the account of the agent of compute-1: it reports heartbeats, inventory, port
and domain status for compute-1, watches compute-1's desired state and reads the ports bound to
compute-1. Everything about another host is refused, and the cloud-wide powers of the
``service`` role (other projects' ports, binding attributes, port bindings) are not its own.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import (
    HEARTBEAT,
    NETS,
    PORTS,
    heartbeat,
    make_network,
    make_subnet,
)
from tests.functional.api.test_server_lifecycle import NEW, SERVERS, _boot, _network, _register

AGENT = "agent-c1"
INVENTORY = {"vcpus": 4, "memory_mb": 4096}


def _beat(host: str) -> dict[str, Any]:
    return {"host": host, "agent_type": "NIC Switch agent", "binary": "vfplane-agent",
            "configurations": {"device_mappings": {}}}  # fmt: skip


def _hosts(api: Api) -> None:
    for host in ("compute-1", "compute-2"):
        assert api.put("admin", f"/v1/hosts/{host}", INVENTORY).status_code == 200


def _bound_port(api: Api, network_id: str, host: str) -> str:
    body = {"network_id": network_id, "binding:host_id": host}
    response = api.post("admin", PORTS, {"port": body})
    assert response.status_code == 201, response.text
    return str(response.json()["port"]["id"])


OTHER_HOST_CALLS = [
    ("PUT", "/v1/hosts/compute-2", INVENTORY),
    ("POST", HEARTBEAT, _beat("compute-2")),
    ("GET", "/v1/hosts/compute-2", None),
    ("GET", "/v1/hosts/compute-2/desired?timeout=0", None),
    ("GET", "/v1/devices?host=compute-2", None),
    ("POST", "/v1/hosts/compute-2/ports/status", {"up": []}),
    ("POST", "/v1/hosts/compute-2/servers/status", {"servers": []}),
]


@pytest.mark.parametrize(("method", "path", "body"), OTHER_HOST_CALLS)
def test_an_agent_cannot_act_for_another_host(api: Api, method: str, path: str, body: Any) -> None:
    _hosts(api)
    before = api.get("admin", "/v1/hosts/compute-2").json()["host"]
    response = api.call(AGENT, method, path, json=body)
    assert response.status_code == 403, response.text
    assert "compute-1" in response.json()["error"]["message"]
    assert api.get("admin", "/v1/hosts/compute-2").json()["host"] == before
    agents = api.get("admin", "/network/v2.0/agents").json()["agents"]
    assert "compute-2" not in {a["host"] for a in agents}


def test_an_agent_acts_for_its_own_host(api: Api) -> None:
    _hosts(api)
    assert api.put(AGENT, "/v1/hosts/compute-1", INVENTORY).status_code == 200
    assert api.post(AGENT, HEARTBEAT, _beat("compute-1")).status_code == 200
    assert api.get(AGENT, "/v1/hosts/compute-1/desired?timeout=0").status_code == 200
    assert api.post(AGENT, "/v1/hosts/compute-1/ports/status", {"up": []}).status_code == 200
    assert [h["name"] for h in api.get(AGENT, "/v1/hosts").json()["hosts"]] == ["compute-1"]


def test_an_agent_reads_only_the_ports_bound_to_its_host(api: Api) -> None:
    _hosts(api)
    network_id = make_network(api, kind=None, shared=True)
    make_subnet(api, network_id)
    mine, theirs = (_bound_port(api, network_id, h) for h in ("compute-1", "compute-2"))
    unbound = api.post("demo", PORTS, {"port": {"network_id": network_id}}).json()["port"]["id"]
    listed = api.get(AGENT, PORTS)
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["ports"]] == [mine]
    by_host = api.get(AGENT, f"{PORTS}?binding:host_id=compute-2").json()["ports"]
    assert by_host == []
    assert api.get(AGENT, f"{PORTS}/{mine}").json()["port"]["binding:host_id"] == "compute-1"
    for port_id in (theirs, unbound):
        assert api.get(AGENT, f"{PORTS}/{port_id}").status_code == 404
        assert api.get(AGENT, f"/v1/ports/{port_id}/explain").status_code == 403
        assert api.get(AGENT, f"{PORTS}/{port_id}/bindings").status_code == 403


def test_an_agent_changes_no_port_through_the_network_api(api: Api) -> None:
    _hosts(api)
    network_id = make_network(api, kind=None)
    make_subnet(api, network_id)
    mine, theirs = (_bound_port(api, network_id, h) for h in ("compute-1", "compute-2"))
    steal = {"port": {"binding:host_id": "compute-1"}}
    refused = [
        api.put(AGENT, f"{PORTS}/{theirs}", steal),
        api.delete(AGENT, f"{PORTS}/{theirs}"),
        api.put(AGENT, f"{PORTS}/{mine}", {"port": {"trusted": True}}),
        api.delete(AGENT, f"{PORTS}/{mine}"),
        api.post(AGENT, f"{PORTS}/{theirs}/bindings", {"binding": {"host": "compute-1"}}),
        api.post(AGENT, PORTS, {"port": {"network_id": network_id}}),
        api.post(AGENT, NETS, {"network": {"name": "agent-net"}}),
        api.get(AGENT, NETS),
    ]
    for response in refused:
        assert response.status_code == 403, response.text
        assert "agent of host compute-1" in response.json()["NeutronError"]["message"]
    ports = {p["id"]: p for p in api.get("admin", PORTS).json()["ports"]}
    assert set(ports) == {mine, theirs}
    assert ports[theirs]["binding:host_id"] == "compute-2"
    assert ports[mine]["trusted"] is None


def test_an_agent_reaches_no_server_nor_account_through_the_other_apis(api: Api) -> None:
    _register(api)
    server_id = _boot(api, _network(api))  # on compute-1, the agent's own host
    refused = [
        api.get(AGENT, f"{SERVERS}/{server_id}", headers=NEW),
        api.get(AGENT, f"{SERVERS}/detail", headers=NEW),
        api.delete(AGENT, f"{SERVERS}/{server_id}", headers=NEW),
        api.get(AGENT, f"/v1/servers/{server_id}/domain"),
        api.get(AGENT, f"/v1/servers/{server_id}/explain"),
        api.get(AGENT, "/identity/v3/users"),
        api.get(AGENT, "/image/v2/images"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert api.get("admin", f"{SERVERS}/{server_id}", headers=NEW).json()["server"]["status"] == (
        "ACTIVE"
    )


def test_reports_about_another_hosts_ports_and_servers_are_ignored(api: Api) -> None:
    _register(api)  # compute-1
    heartbeat(api, "compute-2")
    assert api.put("admin", "/v1/hosts/compute-2", INVENTORY).status_code == 200
    network_id = make_network(api, kind=None)
    make_subnet(api, network_id)
    theirs = _bound_port(api, network_id, "compute-2")
    before = api.get("admin", f"{PORTS}/{theirs}").json()["port"]["status"]
    report = {"up": [theirs], "errors": [{"port_id": theirs, "message": "x"}]}
    answer = api.post(AGENT, "/v1/hosts/compute-1/ports/status", report)
    assert answer.json()["ignored"] == [theirs]
    assert api.get("admin", f"{PORTS}/{theirs}").json()["port"]["status"] == before
    server_id = _boot(api, _network(api))  # on compute-1
    moved = {"servers": [{"id": server_id, "state": "error", "message": "x"}]}
    answer = api.post("admin", "/v1/hosts/compute-2/servers/status", moved)
    assert answer.json()["ignored"] == [server_id]
    shown = api.get("admin", f"{SERVERS}/{server_id}", headers=NEW).json()["server"]
    assert shown["status"] == "ACTIVE"
