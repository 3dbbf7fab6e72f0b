"""``/v1/dashboard`` and ``/ui``: capacity, host pages, a host's VFs, a VF's detail (with the
original its agent saved), and the failures recorded as events."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from tests.functional.api.conftest import PASSWORD, Api, LiveApi
from tests.functional.api.port_helpers import heartbeat, make_network, make_port, update_port
from vfplane.agent.inventory import scan_host
from vfplane.agent.loop import Agent
from vfplane.agent.reconcile import Reconciler
from vfplane.client import ApiClient, Credentials
from vfplane.db.tables import Event, Host, PciDeviceRecord
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.vf_state_store import VfStateStore
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs
from vfplane.service import events
from vfplane.settings import AgentSettings, PciSettings

DASH = "/v1/dashboard"
SERVERS = "/compute/v2.1/servers"
NEW = {"OpenStack-API-Version": "compute 2.96"}
POLICIES = "/network/v2.0/qos/policies"
VFS = ["0000:3b:02.0", "0000:3b:02.1"]
ORIGINAL = {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "spoofchk": True, "trust": False,
            "link_state": "auto", "min_tx_rate": 0, "max_tx_rate": 0}  # fmt: skip


@pytest.fixture
def dash(api: Api) -> Api:
    with api.deps.sessions() as session:
        session.execute(delete(Event))
        session.commit()
    return api


def _register(api: Api, host: str = "compute-1", physnet: str | None = "physnet1",
              pf: str = "0000:3b:00.0") -> None:  # fmt: skip
    tags = {"physical_network": physnet} if physnet else {}
    facts = {"vendor_id": "8086", "numa_node": 0, "physical_network": physnet, "tags": tags}
    devices = [{"address": pf, "product_id": "1572", "dev_type": "type-PF", "ifname": "ens1f0",
                "mac": "3c:fd:fe:00:00:01", **facts}]  # fmt: skip
    vf_facts = {"product_id": "154c", "dev_type": "type-VF", "parent_addr": pf,
                "pf_ifname": "ens1f0", **facts}  # fmt: skip
    devices += [{"address": vf, "vf_index": i, **vf_facts} for i, vf in enumerate(VFS)]
    body = {"vcpus": 16, "memory_mb": 32768, "numa_topology": [{"id": 0}], "devices": devices}
    assert api.put("admin", f"/v1/hosts/{host}", body).status_code == 200
    heartbeat(api, host, mappings={physnet or "none": ["ens1f0"]})


def _boot(api: Api, port_id: str) -> tuple[dict[str, Any], str]:
    flavor = {"flavor": {"name": "m1", "vcpus": 2, "ram": 1024, "disk": 1, "id": None}}
    flavor_id = api.post("admin", "/compute/v2.1/flavors", flavor).json()["flavor"]["id"]
    body = {"server": {"name": "vm-1", "flavorRef": flavor_id, "networks": [{"port": port_id}]}}
    response = api.post("admin", SERVERS, body, headers=NEW)
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    shown = api.get("admin", f"{SERVERS}/{server_id}", headers=NEW).json()["server"]
    return shown, response.headers["X-OpenStack-Request-ID"]


def _rated_port(api: Api) -> dict[str, Any]:
    policy = api.post("admin", POLICIES, {"policy": {"name": "gold"}}).json()["policy"]
    rules = f"{POLICIES}/{policy['id']}"
    api.post(
        "admin", f"{rules}/bandwidth_limit_rules", {"bandwidth_limit_rule": {"max_kbps": 10000}}
    )
    api.post("admin", f"{rules}/minimum_bandwidth_rules",
             {"minimum_bandwidth_rule": {"min_kbps": 2000}})  # fmt: skip
    network_id = make_network(api, vlan=101)
    return make_port(api, "admin", network_id, qos_policy_id=policy["id"],
                     **{"binding:vnic_type": "direct"})  # fmt: skip


def _summary(api: Api) -> dict[str | None, dict[str, Any]]:
    response = api.get("admin", f"{DASH}/summary")
    assert response.status_code == 200, response.text
    return {p["physnet"]: p for p in response.json()["physnets"]}


def test_summary_counts_each_physnets_vfs_by_state(dash: Api) -> None:
    _register(dash, "compute-1", "physnet1")
    _register(dash, "compute-2", "physnet2")
    _register(dash, "compute-3", None)
    with dash.deps.sessions() as session:  # as the state machine leaves a VF whose PF is taken
        device = PciDeviceRecord
        taken = device.host == "compute-2", device.address == VFS[1]
        session.execute(update(device).where(*taken).values(status="unavailable"))
        session.commit()
    server, _ = _boot(dash, _rated_port(dash)["id"])
    assert server["status"] == "BUILD"
    states = dash.get("admin", f"{DASH}/summary").json()["states"]
    assert states == ["free", "claimed", "allocated", "unavailable"]
    found = _summary(dash)
    counts = {"hosts": 1, "pfs": 1, "total": 2, "claimed": 0}
    assert found["physnet1"] == {"physnet": "physnet1", **counts, "free": 1, "allocated": 1,
                                 "unavailable": 0}  # fmt: skip
    assert found["physnet2"] == {"physnet": "physnet2", **counts, "free": 1, "allocated": 0,
                                 "unavailable": 1}  # fmt: skip
    assert found[None]["total"] == 2  # devices on no physnet are a group of their own


def test_hosts_come_in_pages_filtered_by_physnet_and_name(dash: Api) -> None:
    for name in ("rack1-a", "rack1-b", "rack2-c"):
        _register(dash, name, "physnet1")
    _register(dash, "rack2-d", "physnet2")
    _register(dash, "rack3-e", None)

    def page(**query: Any) -> dict[str, Any]:
        response = dash.get("admin", f"{DASH}/hosts", params=query)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first = page(physnet="physnet1", limit=2)
    assert [h["name"] for h in first["hosts"]] == ["rack1-a", "rack1-b"]
    assert first["next_marker"] == "rack1-b"
    assert first["hosts"][0] == {"name": "rack1-a", "total": 2, "free": 2, "claimed": 0,
                                 "allocated": 0, "unavailable": 0}  # fmt: skip
    rest = page(physnet="physnet1", limit=2, marker=first["next_marker"])
    assert ([h["name"] for h in rest["hosts"]], rest["next_marker"]) == (["rack2-c"], None)
    assert [h["name"] for h in page(physnet="physnet1", name="2-")["hosts"]] == ["rack2-c"]
    assert page(physnet="physnet1", name="%")["hosts"] == []  # a literal, not a wildcard
    assert [h["name"] for h in page(physnet="physnet2")["hosts"]] == ["rack2-d"]
    assert [h["name"] for h in page(physnet="")["hosts"]] == ["rack3-e"]
    assert dash.get("admin", f"{DASH}/hosts").status_code == 400  # physnet is required


def test_a_hosts_vfs_and_one_vfs_detail(dash: Api) -> None:
    _register(dash)
    port = _rated_port(dash)
    server, _ = _boot(dash, port["id"])
    tree = dash.get("admin", f"{DASH}/hosts/compute-1/devices?physnet=physnet1").json()
    (pf,) = tree["pfs"]
    assert (pf["address"], pf["ifname"], pf["state"]) == ("0000:3b:00.0", "ens1f0", "unavailable")
    by_address = {vf["address"]: vf for vf in pf["vfs"]}
    assert list(by_address) == VFS
    slot = dash.get("admin", f"/network/v2.0/ports/{port['id']}").json()["port"]
    slot = slot["binding:profile"]["pci_slot"]
    assert by_address[slot]["state"] == "allocated"
    assert by_address[slot]["port_id"] == port["id"]
    (other,) = set(VFS) - {slot}
    assert (by_address[other]["state"], by_address[other]["port_id"]) == ("free", None)
    assert dash.get("admin", f"{DASH}/hosts/compute-1/devices?physnet=physnet2").json()["pfs"] == []

    detail = dash.get("admin", f"{DASH}/hosts/compute-1/devices/{slot}").json()["device"]
    assert detail["state"] == "allocated"
    assert detail["port"]["id"] == port["id"]
    assert detail["port"]["mac_address"] == port["mac_address"]
    assert detail["port"]["vlan"] == 101
    assert detail["server"] == {"id": server["id"], "name": "vm-1", "status": "BUILD",
                                "project_id": dash.project_of("admin")}  # fmt: skip
    assert detail["rates"] == {"max_kbps": 10000, "min_kbps": 2000}
    assert detail["saved_original"] is None  # the agent has not told one
    free = dash.get("admin", f"{DASH}/hosts/compute-1/devices/{other}").json()["device"]
    assert (free["port"], free["server"], free["rates"]) == (None, None, {})
    missing = dash.get("admin", f"{DASH}/hosts/compute-1/devices/0000:3b:09.0")
    assert missing.status_code == 404


def _detail(api: Api, address: str) -> dict[str, Any]:
    response = api.get("admin", f"{DASH}/hosts/compute-1/devices/{address}")
    device: dict[str, Any] = response.json()["device"]
    return device


def _stamps(api: Api) -> tuple[int, int]:
    with api.deps.sessions() as session:
        host = session.get_one(Host, "compute-1")
        return host.schedule_seq, host.revision


def test_the_agents_saved_originals_are_kept_per_vf(dash: Api) -> None:
    _register(dash)
    status = "/v1/hosts/compute-1/ports/status"
    saved = {"port_id": "p-1", "config": ORIGINAL}
    stamps = _stamps(dash)
    assert dash.post("agent-c1", status, {"originals": {VFS[0]: saved}}).status_code == 200
    assert _detail(dash, VFS[0])["saved_original"] == saved
    assert _detail(dash, VFS[1])["saved_original"] is None
    assert dash.post("agent-c1", status, {"up": []}).status_code == 200  # none told: kept
    assert _detail(dash, VFS[0])["saved_original"] == saved
    moved = {"port_id": "p-2", "config": {**ORIGINAL, "vlan": 7}}
    dash.post("agent-c1", status, {"originals": {VFS[1]: moved}})  # VF 0 restored, VF 1 saved
    assert (_detail(dash, VFS[0])["saved_original"], _detail(dash, VFS[1])["saved_original"]) == (
        None, moved)  # fmt: skip
    assert _stamps(dash) == stamps  # what the scheduler sees did not change
    bad = dash.post("agent-c1", status, {"originals": {VFS[0]: {"config": ORIGINAL}}})
    assert bad.status_code == 400


def _events(api: Api, **query: Any) -> list[dict[str, Any]]:
    response = api.get("admin", f"{DASH}/events", params=query)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["events"]
    return found


def test_a_boot_without_a_valid_host_is_an_event_with_the_schedulers_reasons(dash: Api) -> None:
    _register(dash)
    network_id = make_network(dash, physnet="physnet3", vlan=None, kind="flat")
    port = make_port(dash, "admin", network_id, **{"binding:vnic_type": "direct"})
    server, request_id = _boot(dash, port["id"])
    assert server["status"] == "ERROR"
    (event,) = _events(dash)
    assert event["kind"] == "no_valid_host"
    assert event["message"] == server["fault"]["message"]
    assert "physnet3" in event["message"]
    assert (event["server_id"], event["port_id"]) == (server["id"], port["id"])
    assert event["request_id"] == request_id
    assert event["project_id"] == dash.project_of("admin")
    assert event["details"]["server_name"] == "vm-1"
    assert [h["host"] for h in event["details"]["hosts"]] == ["compute-1"]
    assert "physnet3" in event["details"]["hosts"][0]["message"]
    assert _events(dash, kind="binding_failed") == []


def test_a_failed_binding_is_an_event_with_each_drivers_reason(dash: Api) -> None:
    network_id = make_network(dash, vlan=100)
    port = make_port(dash, "admin", network_id, **{"binding:vnic_type": "direct"})
    response = update_port(dash, "admin", port["id"], **{"binding:host_id": "compute-9"})
    assert response.json()["port"]["binding:vif_type"] == "binding_failed"
    (event,) = _events(dash)
    assert (event["kind"], event["port_id"], event["host"]) == (
        "binding_failed", port["id"], "compute-9")  # fmt: skip
    assert event["request_id"] == response.headers["X-OpenStack-Request-ID"]
    drivers = [r["driver"] for r in event["details"]["failure_reasons"]]
    assert drivers == ["sriovnicswitch", "linuxbridge", "qbh"]
    assert "no alive NIC Switch agent on host compute-9" in event["message"]
    update_port(dash, "admin", port["id"], name="renamed")  # the update binds again, in vain
    assert [e["port_id"] for e in _events(dash)] == [port["id"]] * 2


def test_only_the_newest_events_are_kept(dash: Api) -> None:
    moment = datetime(2026, 12, 7, 1, 2, 3)
    with dash.deps.sessions() as session:
        for n in range(5):
            events.record(session, events.EventKind.BINDING_FAILED, f"failure {n}", moment,
                          port_id=f"port-{n}", keep=3)  # fmt: skip
            session.commit()
    found = _events(dash)
    assert [e["message"] for e in found] == ["failure 4", "failure 3", "failure 2"]
    assert found[0]["created_at"] == "2026-12-07T01:02:03Z"
    assert [e["message"] for e in _events(dash, limit=1)] == ["failure 4"]


READS = ["summary", "hosts?physnet=physnet1", "events", "hosts/compute-1/devices",
         f"hosts/compute-1/devices/{VFS[0]}"]  # fmt: skip


@pytest.mark.parametrize("path", READS)
def test_the_dashboard_is_for_admins(dash: Api, path: str) -> None:
    _register(dash)
    for who in ("demo", "reader", "agent-c1"):
        refused = dash.get(who, f"{DASH}/{path}")
        assert refused.status_code == 403, who
    assert "needs the admin role" in dash.get("demo", f"{DASH}/{path}").text
    assert dash.get(None, f"{DASH}/{path}").status_code == 401


def test_the_page_and_its_files_are_served(dash: Api) -> None:
    moved = dash.get(None, "/ui", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (307, "/ui/")
    page = dash.get(None, "/ui/")
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="login-form"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name, kind, marker in (("app.js", "text/javascript", "/v1/dashboard/summary"),
                               ("style.css", "text/css", ".vf.allocated")):  # fmt: skip
        served = dash.get(None, f"/ui/{name}")
        assert served.headers["content-type"].startswith(kind)
        assert marker in served.text
    assert dash.get(None, "/ui/secrets.txt").status_code == 404
    assert "/v1/dashboard/summary" in dash.get(None, "/openapi.json").json()["paths"]


def _originals_told(agent: Agent) -> list[dict[str, Any]]:
    """The ``originals`` the agent sends from now on (a spy on its client)."""
    told: list[dict[str, Any]] = []
    call = agent._client.call

    def spy(method: str, path: str, **kwargs: Any) -> Any:
        if "originals" in (kwargs.get("json") or {}):
            told.append(kwargs["json"]["originals"])
        return call(method, path, **kwargs)

    agent._client.call = spy  # type: ignore[method-assign]
    return told


def test_an_agent_tells_the_originals_it_saved_and_forgot(
    live_api: LiveApi, tmp_path: Path
) -> None:
    api = live_api.api
    root = tmp_path / "root"
    lab = LabSysfs(root)
    lab.add_card(PROFILES["x710"], pfs=1, vfs=2)
    lab.write_topology(16, 32768, 1)
    settings = AgentSettings(host="compute-1", sysfs_root=root,
                             physical_device_mappings="physnet1:ens1f0")  # fmt: skip
    pci = PciSettings(device_spec=[{"address": "0000:3b:00.0", "physical_network": "physnet1"}])
    client = ApiClient(live_api.url, Credentials("agent-c1", PASSWORD, "service"))
    reconciler = Reconciler(SimulatedNic(root), VfStateStore(tmp_path / "state"))
    agent = Agent("compute-1", client, reconciler, lambda: scan_host(settings, pci))
    try:
        agent._rescan()
        agent.heartbeat()
        slot = "0000:3b:02.1"
        before = SimulatedNic(root).read_vfs("ens1f0")[1]
        binding = {"binding:vnic_type": "direct", "binding:host_id": "compute-1",
                   "binding:profile": {"pci_slot": slot}}  # fmt: skip
        port = make_port(api, "admin", make_network(api, vlan=107), **binding)
        agent.reconcile_once(-1)
        saved = _detail(api, slot)["saved_original"]
        assert saved == {"port_id": port["id"], "config": before.as_dict()}
        assert _detail(api, "0000:3b:02.0")["saved_original"] is None
        told = _originals_told(agent)
        agent.reconcile_once(-1)  # the digest in the desired state matches: nothing to tell
        assert told == []
        with api.deps.sessions() as session:  # the server lost them (a restored backup, say)
            session.execute(update(PciDeviceRecord).values(saved_original=None))
            session.commit()
        agent.reconcile_once(-1)
        assert len(told) == 1
        assert _detail(api, slot)["saved_original"] == saved
        update_port(api, "admin", port["id"], **{"binding:host_id": "", "binding:profile": {}})
        agent.reconcile_once(-1)  # the VF is restored and its record forgotten
        assert _detail(api, slot)["saved_original"] is None
    finally:
        agent.close()


def test_an_unknown_event_kind_is_refused_by_name(dash: Api) -> None:
    refused = dash.get("admin", f"{DASH}/events?kind=crashed")
    assert refused.status_code == 400, refused.text
    assert "kind" in refused.text
