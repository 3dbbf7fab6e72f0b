"""Hosts: registration with inventory, the desired-state watch, port status reports."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import heartbeat, make_network, make_port, update_port

HOST = "compute-1"
PF = "0000:3b:00.0"
VF0 = "0000:3b:02.0"
VF1 = "0000:3b:02.1"


def _device(address: str, parent: str | None = PF, index: int | None = 0) -> dict[str, Any]:
    kind = "type-VF" if parent else "type-PF"
    return {"address": address, "vendor_id": "8086", "product_id": "154c" if parent else "1572",
            "dev_type": kind, "parent_addr": parent, "numa_node": 0, "vf_index": index,
            "pf_ifname": "ens1f0" if parent else None, "physical_network": "physnet1",
            "tags": {"physical_network": "physnet1"}}  # fmt: skip


def _register(api: Api, who: str = "admin", host: str = HOST, devices: Any = None) -> Any:
    body = {"vcpus": 32, "memory_mb": 65536, "numa_topology": [{"id": 0, "cpus": [0, 1]}],
            "configurations": {"device_mappings": {"physnet1": ["ens1f0"]}},
            "devices": devices if devices is not None else
            [_device(PF, None, None), _device(VF0, index=0), _device(VF1, index=1)]}  # fmt: skip
    return api.put(who, f"/v1/hosts/{host}", body)


def _bound_port(api: Api, slot: str = VF0, **attrs: Any) -> dict[str, Any]:
    heartbeat(api, HOST)
    network_id = make_network(api, vlan=100)
    profile = {"pci_slot": slot, "physical_network": "physnet1"}
    return make_port(api, "admin", network_id, **{"binding:vnic_type": "direct",
                     "binding:host_id": HOST, "binding:profile": profile}, **attrs)  # fmt: skip


def test_register_and_list(api: Api) -> None:
    assert _register(api).status_code == 200
    host = api.get("admin", f"/v1/hosts/{HOST}").json()["host"]
    assert (host["vcpus"], host["memory_mb"], host["inventory_generation"]) == (32, 65536, 1)
    devices = api.get("admin", f"/v1/devices?host={HOST}").json()["devices"]
    assert [d["address"] for d in devices] == [PF, VF0, VF1]
    assert {d["status"] for d in devices} == {"available"}
    again = _register(api).json()["host"]
    assert again["inventory_generation"] == 1  # nothing changed


def test_inventory_changes_are_tracked(api: Api) -> None:
    _register(api)
    _register(api, devices=[_device(PF, None, None), _device(VF0)])
    devices = api.get("admin", f"/v1/devices?host={HOST}").json()["devices"]
    assert [d["address"] for d in devices] == [PF, VF0]
    assert api.get("admin", f"/v1/hosts/{HOST}").json()["host"]["inventory_generation"] == 2


def test_invalid_registration_is_400_naming_the_field(api: Api) -> None:
    response = _register(api, devices=[{**_device(VF0), "address": "3b:02.0"}])
    assert response.status_code == 400
    assert "devices.0.address" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("field", "body"),
    [
        # Found by the OpenAPI fuzz test: numbers past the 32-bit columns were a 500.
        ("memory_mb", {"vcpus": 2720, "memory_mb": 137443346524949348352}),
        ("vcpus", {"vcpus": 2**31, "memory_mb": 1}),
        ("numa_topology.0.memory_mb", {"vcpus": 1, "memory_mb": 1,
                                       "numa_topology": [{"id": 0, "memory_mb": 2**63}]}),
        ("devices.0.vf_index", {"vcpus": 1, "memory_mb": 1,
                                "devices": [{**_device(VF0), "vf_index": 2**31}]}),
        ("devices.0.iommu_group", {"vcpus": 1, "memory_mb": 1,
                                   "devices": [{**_device(VF0), "iommu_group": 2**40}]}),
    ],
)  # fmt: skip
def test_numbers_too_large_for_the_database_are_400_naming_the_field(
    api: Api, field: str, body: dict[str, Any]
) -> None:
    response = api.put("admin", f"/v1/hosts/{HOST}", body)
    assert response.status_code == 400, response.text
    assert f"Invalid input for {field}:" in response.json()["error"]["message"]


def test_agent_credentials_act_for_their_own_host_only(api: Api) -> None:
    assert _register(api, "agent-c1", HOST).status_code == 200
    other = _register(api, "agent-c1", "compute-2")
    assert other.status_code == 403
    assert "agent of host compute-1, not compute-2" in other.json()["error"]["message"]
    assert api.get("agent-c1", "/v1/hosts/compute-2/desired?timeout=0").status_code == 403
    assert _register(api, "demo", HOST).status_code == 403
    beat = {"host": "compute-2", "agent_type": "NIC Switch agent", "binary": "x"}
    assert api.post("agent-c1", "/v1/agents/heartbeat", beat).status_code == 403


def test_desired_state_carries_what_the_vf_needs(api: Api) -> None:
    _register(api)
    port = _bound_port(api, admin_state_up=False, port_security_enabled=False)
    state = api.get("agent-c1", f"/v1/hosts/{HOST}/desired?timeout=0").json()
    (desired,) = state["ports"]
    assert desired == {
        "port_id": port["id"], "pci_slot": VF0, "mac_address": port["mac_address"], "vlan": 100,
        "admin_state_up": False, "port_security_enabled": False, "trusted": None,
        "propagate_uplink_status": False, "max_kbps": None, "min_kbps": None,
        "vnic_type": "direct", "vif_type": "hw_veb", "status": "DOWN",
        "request_id": desired["request_id"],  # the port create's (test_request_ids)
    }  # fmt: skip
    devices = api.get("admin", f"/v1/devices?host={HOST}").json()["devices"]
    assert {d["address"]: d["port_id"] for d in devices}[VF0] == port["id"]


def test_revision_moves_with_relevant_changes_only(api: Api) -> None:
    _register(api)
    port = _bound_port(api)
    first = api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()["revision"]
    update_port(api, "admin", port["id"], name="renamed")
    assert api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()["revision"] == first
    update_port(api, "admin", port["id"], admin_state_up=False)
    second = api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()["revision"]
    assert second > first
    policy = api.post("admin", "/network/v2.0/qos/policies", {"policy": {"name": "q"}}).json()
    update_port(api, "admin", port["id"], qos_policy_id=policy["policy"]["id"])
    third = api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()["revision"]
    rule = {"bandwidth_limit_rule": {"max_kbps": 5000}}
    path = f"/network/v2.0/qos/policies/{policy['policy']['id']}/bandwidth_limit_rules"
    assert api.post("admin", path, rule).status_code == 201
    state = api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()
    assert state["revision"] > third
    assert state["ports"][0]["max_kbps"] == 5000


def test_long_poll_wakes_on_a_change(api: Api) -> None:
    _register(api)
    revision = api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()["revision"]
    result: dict[str, Any] = {}

    def poll() -> None:  # as an agent does: watch until the port shows up
        started, since = time.monotonic(), revision
        while time.monotonic() - started < 20:
            url = f"/v1/hosts/{HOST}/desired?since={since}&timeout=20"
            state = api.get("agent-c1", url).json()
            since = state["revision"]
            if state["ports"]:
                result.update(state, elapsed=time.monotonic() - started)
                return

    api.client.app.openapi()  # two threads ask at once: build the route models first
    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.5)
    assert "revision" not in result  # still waiting
    _bound_port(api)
    waiter.join(timeout=20)
    assert result["revision"] > revision
    assert len(result["ports"]) == 1
    assert result["elapsed"] < 15


def test_long_poll_times_out_with_the_same_revision(api: Api) -> None:
    _register(api)
    revision = api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()["revision"]
    response = api.get("admin", f"/v1/hosts/{HOST}/desired?since={revision}&timeout=0.3")
    assert response.json()["revision"] == revision
    too_long = api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=600")
    assert too_long.status_code == 400


def test_status_reports_move_port_status(api: Api) -> None:
    _register(api)
    port = _bound_port(api)
    stranger = make_port(api, "admin", make_network(api, vlan=101))
    body = {"up": [port["id"], stranger["id"]]}
    answer = api.post("agent-c1", f"/v1/hosts/{HOST}/ports/status", body).json()
    assert answer["ignored"] == [stranger["id"]]
    assert api.get("demo", "/network/v2.0/ports").json()["ports"] == []
    shown = api.get("admin", f"/network/v2.0/ports/{port['id']}").json()["port"]
    assert shown["status"] == "ACTIVE"
    error = {"errors": [{"port_id": port["id"], "message": "VF 0000:3b:02.0 rejected the MAC"}]}
    api.post("agent-c1", f"/v1/hosts/{HOST}/ports/status", error)
    assert api.get("admin", f"/network/v2.0/ports/{port['id']}").json()["port"]["status"] == "ERROR"


def test_unregistered_host_is_404(api: Api) -> None:
    response = api.get("admin", "/v1/hosts/nowhere/desired?timeout=0")
    assert response.status_code == 404
    assert "its agent registers it" in response.json()["error"]["message"]


def test_unbinding_wakes_the_host_it_left(api: Api) -> None:
    _register(api)
    port = _bound_port(api)
    before = api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()
    assert len(before["ports"]) == 1
    update_port(api, "admin", port["id"], **{"binding:host_id": "", "binding:profile": {}})
    after = api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()
    assert after["revision"] > before["revision"]
    assert after["ports"] == []
