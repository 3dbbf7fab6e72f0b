"""Stop, start, reboot and os-interface attach/detach through the compute API.

The test plays the host's agent over HTTP: it reads the desired state, renders
each domain with the agent's own renderer and reports what libvirt would show.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import heartbeat, make_network, make_subnet
from vfplane.agent.domains import render

SERVERS = "/compute/v2.1/servers"
NEW = {"OpenStack-API-Version": "compute 2.96"}
PF0, PF1 = "0000:3b:00.0", "0000:af:00.0"
VFS0 = ["0000:3b:02.0", "0000:3b:02.1"]
VFS1 = ["0000:af:02.0"]


def _register(api: Api) -> None:
    """compute-1: two NUMA nodes, a PF with two VFs on node 0 and one with a VF on node 1."""
    tags = {"physical_network": "physnet1"}
    devices: list[dict[str, Any]] = []
    for pf, vfs, node, ifname in ((PF0, VFS0, 0, "ens1f0"), (PF1, VFS1, 1, "ens2f0")):
        devices.append({"address": pf, "vendor_id": "8086", "product_id": "1572",
                        "dev_type": "type-PF", "physical_network": "physnet1", "tags": tags,
                        "mac": f"3c:fd:fe:00:00:0{node + 1}", "ifname": ifname,
                        "numa_node": node})  # fmt: skip
        devices += [{"address": vf, "vf_index": i, "vendor_id": "8086", "product_id": "154c",
                     "dev_type": "type-VF", "parent_addr": pf, "pf_ifname": ifname,
                     "numa_node": node, "physical_network": "physnet1", "tags": tags}
                    for i, vf in enumerate(vfs)]  # fmt: skip
    body = {"vcpus": 16, "memory_mb": 32768, "numa_topology": [{"id": 0}, {"id": 1}],
            "devices": devices}  # fmt: skip
    assert api.put("admin", "/v1/hosts/compute-1", body).status_code == 200
    heartbeat(api, "compute-1", mappings={"physnet1": ["ens1f0", "ens2f0"]})


def _flavor(api: Api, extra_specs: dict[str, str] | None = None, vcpus: int = 2) -> str:
    body = {"flavor": {"name": f"f-{uuid.uuid4().hex[:8]}", "vcpus": vcpus,
                       "ram": 1024, "disk": 1}}  # fmt: skip
    flavor_id = str(api.post("admin", "/compute/v2.1/flavors", body).json()["flavor"]["id"])
    if extra_specs:
        response = api.post("admin", f"/compute/v2.1/flavors/{flavor_id}/os-extra_specs",
                            {"extra_specs": extra_specs})  # fmt: skip
        assert response.status_code == 200, response.text
    return flavor_id


def _show(api: Api, server_id: str) -> dict[str, Any]:
    server: dict[str, Any] = api.get("admin", f"{SERVERS}/{server_id}", headers=NEW).json()[
        "server"
    ]
    return server


def _desired(api: Api) -> dict[str, dict[str, Any]]:
    desired = api.get("admin", "/v1/hosts/compute-1/desired?timeout=0").json()
    return {s["id"]: s for s in desired["servers"]}


def _agent_pass(api: Api, states: dict[str, str] | None = None, message: str = "") -> None:
    """One pass of a well-behaved agent: ports up, each desired domain as it is asked to be."""
    desired = _desired(api)
    ports = [i["port_id"] for s in desired.values() for i in s["interfaces"]]
    api.post("agent-c1", "/v1/hosts/compute-1/ports/status", {"up": ports})
    reports = []
    for server_id, server in desired.items():
        state = (states or {}).get(server_id) or ("running" if server["running"] else "shutoff")
        reports.append({"id": server_id, "state": state, "message": message,
                        "xml": render(server, [])})  # fmt: skip
    response = api.post("agent-c1", "/v1/hosts/compute-1/servers/status", {"servers": reports})
    assert response.status_code == 200, response.text


def _boot(api: Api, network_id: str, flavor_id: str | None = None) -> str:
    body = {"server": {"name": "vm", "flavorRef": flavor_id or _flavor(api),
                       "networks": [{"uuid": network_id, "vnic_type": "direct"}]}}  # fmt: skip
    response = api.post("demo", SERVERS, body, headers=NEW)
    assert response.status_code == 202, response.text
    server_id = str(response.json()["server"]["id"])
    _agent_pass(api)
    assert _show(api, server_id)["status"] == "ACTIVE"
    return server_id


def _network(api: Api) -> str:
    network_id = make_network(api, vlan=101, shared=True)
    make_subnet(api, network_id)
    return network_id


def _action(api: Api, server_id: str, body: dict[str, Any], who: str = "demo") -> Any:
    return api.post(who, f"{SERVERS}/{server_id}/action", body, headers=NEW)


def _devices(api: Api) -> dict[str, str]:
    rows = api.get("admin", "/v1/devices?host=compute-1").json()["devices"]
    return {d["address"]: d["status"] for d in rows}


def _actions(api: Api, server_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get("demo", f"{SERVERS}/{server_id}/os-instance-actions"
                                          ).json()["instanceActions"]  # fmt: skip
    return found


def test_stop_then_start(api: Api) -> None:
    _register(api)
    server_id = _boot(api, _network(api))
    assert _action(api, server_id, {"os-stop": None}).status_code == 202
    shown = _show(api, server_id)
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("ACTIVE", "powering-off")
    assert _desired(api)[server_id]["running"] is False
    _agent_pass(api)
    shown = _show(api, server_id)
    assert (shown["status"], shown["OS-EXT-STS:vm_state"]) == ("SHUTOFF", "stopped")
    assert (shown["OS-EXT-STS:power_state"], shown["OS-EXT-STS:task_state"]) == (4, None)
    assert "allocated" in _devices(api).values()  # a stopped server keeps its VF (as Nova)
    assert _action(api, server_id, {"os-start": None}).status_code == 202
    assert _desired(api)[server_id]["running"] is True
    _agent_pass(api)
    assert _show(api, server_id)["status"] == "ACTIVE"
    actions = [(a["action"], a["message"]) for a in _actions(api, server_id)]
    assert [a for a, _ in actions] == ["create", "stop", "start"]


def _show_action(api: Api, server_id: str, request_id: str, who: str = "demo",
                 headers: dict[str, str] | None = None) -> Any:  # fmt: skip
    return api.get(who, f"{SERVERS}/{server_id}/os-instance-actions/{request_id}",
                   headers=NEW if headers is None else headers)  # fmt: skip


def test_one_action_is_shown_by_its_request_id(api: Api) -> None:
    _register(api)
    server_id = _boot(api, _network(api))
    stop = _action(api, server_id, {"os-stop": None})
    assert stop.status_code == 202
    listed = {a["action"]: a for a in _actions(api, server_id)}
    assert listed["stop"]["request_id"] == stop.headers["X-OpenStack-Request-ID"]
    for name in ("create", "stop"):
        response = _show_action(api, server_id, listed[name]["request_id"])
        assert response.status_code == 200, response.text
        # No per-action events are recorded: Nova's list, empty, from 2.51 for the owner.
        assert response.json() == {"instanceAction": {**listed[name], "events": []}}
    create = listed["create"]["request_id"]
    old = {"OpenStack-API-Version": "compute 2.50"}
    assert "events" not in _show_action(api, server_id, create, headers=old).json()[
        "instanceAction"]  # fmt: skip
    assert _show_action(api, server_id, create, "admin", old).json()["instanceAction"][
        "events"] == []  # fmt: skip


def test_an_unknown_request_id_or_another_projects_server_is_404(api: Api) -> None:
    _register(api)
    server_id = _boot(api, _network(api))
    unknown = _show_action(api, server_id, "req-00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "itemNotFound": {
            "code": 404,
            "message": "Action req-00000000-0000-0000-0000-000000000000 not found",
        }
    }
    request_id = _actions(api, server_id)[0]["request_id"]
    foreign = _show_action(api, server_id, request_id, who="other")
    assert foreign.status_code == 404
    assert f"Instance {server_id} could not be found." in foreign.text


def test_actions_in_the_wrong_state_or_by_a_reader_are_refused(api: Api) -> None:
    _register(api)
    server_id = _boot(api, _network(api))
    response = _action(api, server_id, {"os-start": None})
    assert response.status_code == 409
    assert "Cannot 'start' instance" in response.text
    assert "vm_state active" in response.text
    assert _action(api, server_id, {"os-stop": None}).status_code == 202
    response = _action(api, server_id, {"reboot": {"type": "SOFT"}})
    assert response.status_code == 409
    assert "task_state powering-off" in response.text
    assert _action(api, server_id, {"os-pause": None}).status_code == 400
    assert _action(api, server_id, {"reboot": {"type": "GENTLE"}}).status_code in (400, 409)
    assert _action(api, server_id, {"os-start": None}, who="reader").status_code in (403, 404)
    assert _action(api, server_id, {"os-stop": None}, who="other").status_code == 404


def test_reboot_waits_for_a_domain_of_the_new_generation(api: Api) -> None:
    _register(api)
    server_id = _boot(api, _network(api))
    assert _action(api, server_id, {"reboot": {"type": "SOFT"}}).status_code == 202
    assert _show(api, server_id)["status"] == "REBOOT"
    wanted = _desired(api)[server_id]
    assert (wanted["generation"], wanted["reboot"], wanted["running"]) == (1, "SOFT", True)
    stale = {**wanted, "generation": 0}
    report = {"id": server_id, "state": "running", "xml": render(stale, [])}
    api.post("agent-c1", "/v1/hosts/compute-1/servers/status", {"servers": [report]})
    assert _show(api, server_id)["status"] == "REBOOT"  # the old domain still runs
    _agent_pass(api)
    assert _show(api, server_id)["status"] == "ACTIVE"
    reboot = [a for a in _actions(api, server_id) if a["action"] == "reboot"]
    assert reboot
    assert reboot[0]["message"] == "SOFT reboot done"


def test_hard_reboot_starts_a_stopped_server(api: Api) -> None:
    _register(api)
    server_id = _boot(api, _network(api))
    _action(api, server_id, {"os-stop": None})
    _agent_pass(api)
    assert _action(api, server_id, {"reboot": {"type": "SOFT"}}).status_code == 409
    assert _action(api, server_id, {"reboot": {"type": "HARD"}}).status_code == 202
    assert _show(api, server_id)["status"] == "HARD_REBOOT"
    assert _desired(api)[server_id]["running"] is True
    _agent_pass(api)
    assert _show(api, server_id)["status"] == "ACTIVE"


def test_a_failing_domain_action_leaves_error_with_the_devices_kept(api: Api) -> None:
    _register(api)
    server_id = _boot(api, _network(api))
    _action(api, server_id, {"reboot": {"type": "HARD"}})
    _agent_pass(api, states={server_id: "error"}, message="qemu: cannot open /dev/vfio/42")
    shown = _show(api, server_id)
    assert shown["status"] == "ERROR"
    assert "cannot open /dev/vfio/42" in shown["fault"]["details"]
    assert "allocated" in _devices(api).values()
    assert api.delete("demo", f"{SERVERS}/{server_id}").status_code == 204
    assert set(_devices(api).values()) == {"available"}


def test_an_action_the_agent_never_carries_out_ends_in_error(api: Api) -> None:
    from datetime import timedelta

    from vfplane.api.app import expire_stuck_builds

    _register(api)
    server_id = _boot(api, _network(api))
    assert _action(api, server_id, {"reboot": {"type": "HARD"}}).status_code == 202
    assert expire_stuck_builds(api.deps) == []  # not late yet
    later = api.deps.clock() + timedelta(seconds=api.deps.settings.compute.action_timeout + 1)
    api.deps.clock = lambda: later
    assert expire_stuck_builds(api.deps) == [server_id]
    shown = _show(api, server_id)
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("ACTIVE", None)
    assert _desired(api)[server_id]["generation"] == 0  # no reboot is owed any more
    reboot = next(a for a in _actions(api, server_id) if a["action"] == "reboot")
    assert "did not reboot the domain within" in reboot["message"]
    assert _action(api, server_id, {"os-stop": None}).status_code == 202  # usable again


def test_the_agents_own_report_of_a_running_domain_wakes_it_no_more(api: Api) -> None:
    """BUILD → ACTIVE changes nothing the agent is told, so the host's revision stays; a
    stop changes what it is told, so the revision moves."""
    _register(api)
    network_id = _network(api)
    body = {"server": {"name": "vm", "flavorRef": _flavor(api),
                       "networks": [{"uuid": network_id, "vnic_type": "direct"}]}}  # fmt: skip
    server_id = str(api.post("demo", SERVERS, body, headers=NEW).json()["server"]["id"])
    desired = _desired(api)
    ports = [i["port_id"] for s in desired.values() for i in s["interfaces"]]
    api.post("agent-c1", "/v1/hosts/compute-1/ports/status", {"up": ports})
    before = api.get("admin", "/v1/hosts/compute-1/desired?timeout=0").json()["revision"]
    report = {"id": server_id, "state": "running", "message": "",
              "xml": render(desired[server_id], [])}  # fmt: skip
    api.post("agent-c1", "/v1/hosts/compute-1/servers/status", {"servers": [report]})
    assert _show(api, server_id)["status"] == "ACTIVE"
    after = api.get("admin", "/v1/hosts/compute-1/desired?timeout=0").json()["revision"]
    assert after == before
    assert _action(api, server_id, {"os-stop": None}).status_code == 202
    stopped = api.get("admin", "/v1/hosts/compute-1/desired?timeout=0").json()["revision"]
    assert stopped > after


def _statements_of(api: Api, path: str) -> int:
    engine = api.deps.sessions.kw["bind"]
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert api.get("admin", path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_the_desired_state_costs_the_same_for_one_server_or_three(api: Api) -> None:
    _register(api)
    network_id, flavor_id = _network(api), _flavor(api)
    _boot(api, network_id, flavor_id)
    path = "/v1/hosts/compute-1/desired?timeout=0"
    one = _statements_of(api, path)
    _boot(api, network_id, flavor_id)
    _boot(api, network_id, flavor_id)
    assert len(_desired(api)) == 3
    assert _statements_of(api, path) == one
