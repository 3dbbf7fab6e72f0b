"""Races: 200 concurrent boots through the API against 50 matching VFs, and port updates
and deletes racing boots — on SQLite (one server) and on PostgreSQL (a second server as
its own OS process, ``vfplane server``, on the same database).

Every boot ends either ACTIVE on a VF of its own, or ERROR with the scheduler's
no-valid-host explanation (or a binding failure) and nothing held; no VF is in two
bindings and no device stays claimed without a live server.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.functional.api.conftest import Api, LiveApi
from tests.functional.api.port_helpers import heartbeat, make_network, make_subnet
from tests.functional.server_process import served

VFS_PER_HOST = 25
HOSTS = ("compute-1", "compute-2")
VFS = VFS_PER_HOST * len(HOSTS)
BOOTS = 200
SERVERS = "/compute/v2.1/servers"
PORTS = "/network/v2.0/ports"


@pytest.fixture
def api_urls(live_api: LiveApi, tmp_path: Path) -> Iterator[list[str]]:
    """Where clients boot: the test's server, and on PostgreSQL also a second
    ``vfplane server`` process on the same database."""
    url = live_api.api.deps.settings.database_url()
    if not url.startswith("postgresql"):
        yield [live_api.url]
        return
    with served(url, tmp_path / "second") as (second, _):
        yield [live_api.url, second]


def _register(api: Api) -> None:
    for h, host in enumerate(HOSTS):
        bus = 0x3B + h
        pf = f"0000:{bus:02x}:00.0"
        tags = {"physical_network": "physnet1"}
        common = {"vendor_id": "8086", "physical_network": "physnet1", "tags": tags}
        devices = [{"address": pf, "product_id": "1572", "dev_type": "type-PF",
                    "mac": f"3c:fd:fe:00:00:0{h}", **common}]  # fmt: skip
        for i in range(VFS_PER_HOST):
            address = f"0000:{bus:02x}:{2 + i // 8:02x}.{i % 8}"
            devices.append({"address": address, "product_id": "154c", "dev_type": "type-VF",
                            "parent_addr": pf, "vf_index": i, **common})  # fmt: skip
        body = {"vcpus": 512, "memory_mb": 1 << 20, "devices": devices}
        assert api.put("admin", f"/v1/hosts/{host}", body).status_code == 200
        heartbeat(api, host)


def _flavor(api: Api) -> str:
    flavor = {"flavor": {"name": "tiny", "vcpus": 1, "ram": 256, "disk": 1, "id": None}}
    return str(api.post("admin", "/compute/v2.1/flavors", flavor).json()["flavor"]["id"])


def _all_at_once(calls: list[Callable[[], None]]) -> None:
    """Run every call on its own thread, released together."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], None]) -> None:
        start.wait()
        call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)


def _agents_report(api: Api) -> None:
    """Each host's agent: its ports up, its domains running (as vfplane-agent reports)."""
    for host in HOSTS:
        desired = api.get("agent", f"/v1/hosts/{host}/desired?timeout=0").json()
        ports = [i["port_id"] for s in desired["servers"] for i in s["interfaces"]]
        api.post("agent", f"/v1/hosts/{host}/ports/status", {"up": ports})
        running = [{"id": s["id"], "state": "running", "xml": "<domain/>"}
                   for s in desired["servers"]]  # fmt: skip
        api.post("agent", f"/v1/hosts/{host}/servers/status", {"servers": running})


def _servers(api: Api) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get("admin", f"{SERVERS}/detail").json()["servers"]
    return found


def _assert_nothing_leaked(api: Api) -> None:
    """No VF in two bindings; every claimed or allocated device belongs to a live server
    that holds exactly the ports bound to it."""
    live = {s["id"] for s in _servers(api) if s["status"] in ("ACTIVE", "BUILD")}
    devices = [d for h in HOSTS
               for d in api.get("admin", f"/v1/devices?host={h}").json()["devices"]]  # fmt: skip
    held = [d for d in devices if d["dev_type"] == "type-VF" and d["status"] != "available"]
    assert {d.get("instance_id") for d in held} <= live
    ports = api.get("admin", PORTS).json()["ports"]
    slots = [p["binding:profile"]["pci_slot"] for p in ports
             if (p["binding:profile"] or {}).get("pci_slot")]  # fmt: skip
    assert len(slots) == len(set(slots))
    assert sorted(slots) == sorted(d["address"] for d in held)
    owners = Counter(p["device_id"] for p in ports if p["device_id"])
    assert set(owners) <= live


def test_200_boots_race_for_50_vfs(live_api: LiveApi, api_urls: list[str]) -> None:
    api = live_api.api
    _register(api)
    network_id = make_network(api, vlan=108, shared=True)
    make_subnet(api, network_id, cidr="10.8.0.0/22")
    body = {"server": {"name": "vm", "flavorRef": _flavor(api),
                       "networks": [{"uuid": network_id, "vnic_type": "direct"}]}}  # fmt: skip
    headers = {"X-Auth-Token": api.tokens["demo"]}
    results: list[int] = []

    def boot(url: str) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=240) as client:
            results.append(client.post(SERVERS, json=body).status_code)

    _all_at_once([lambda u=api_urls[i % len(api_urls)]: boot(u) for i in range(BOOTS)])
    assert results == [202] * BOOTS
    _agents_report(api)
    servers = _servers(api)
    assert Counter(s["status"] for s in servers) == {"ACTIVE": VFS, "ERROR": BOOTS - VFS}
    for server in servers:
        if server["status"] == "ERROR":
            assert server["fault"]["message"].startswith("No valid host was found."), server
            assert "physnet1" in server["fault"]["message"]
    _assert_nothing_leaked(api)
    statuses = Counter(d["status"] for h in HOSTS
                       for d in api.get("admin", f"/v1/devices?host={h}").json()["devices"]
                       if d["dev_type"] == "type-VF")  # fmt: skip
    assert statuses == {"allocated": VFS}


def test_port_updates_and_deletes_racing_boots(live_api: LiveApi, api_urls: list[str]) -> None:
    """Boots on the users' own ports while the users rename some and delete others: every
    boot ends ACTIVE with its port or ERROR with everything given back."""
    api = live_api.api
    _register(api)
    network_id = make_network(api, vlan=109, shared=True)
    make_subnet(api, network_id, cidr="10.9.0.0/24")
    flavor_id = _flavor(api)
    port_body = {"port": {"network_id": network_id, "binding:vnic_type": "direct"}}
    ports = [api.post("demo", PORTS, port_body).json()["port"]["id"] for _ in range(40)]
    headers = {"X-Auth-Token": api.tokens["demo"]}

    def client(i: int) -> httpx.Client:
        return httpx.Client(base_url=api_urls[i % len(api_urls)], headers=headers, timeout=240)

    def boot(i: int, port_id: str) -> None:
        body = {"server": {"name": f"vm-{i}", "flavorRef": flavor_id,
                           "networks": [{"port": port_id}]}}  # fmt: skip
        with client(i) as http:
            assert http.post(SERVERS, json=body).status_code in (202, 404, 409)

    def rename(i: int, port_id: str) -> None:
        with client(i) as http:
            http.put(f"{PORTS}/{port_id}", json={"port": {"name": f"renamed-{i}"}})

    def remove(i: int, port_id: str) -> None:
        with client(i) as http:
            http.delete(f"{PORTS}/{port_id}")

    calls: list[Callable[[], None]] = []
    for i, port_id in enumerate(ports):
        calls.append(lambda i=i, p=port_id: boot(i, p))
        racer = rename if i % 2 else remove
        calls.append(lambda i=i, p=port_id, r=racer: r(i + 1, p))  # type: ignore[misc]
    _all_at_once(calls)
    _agents_report(api)
    remaining = {p["id"]: p for p in api.get("admin", PORTS).json()["ports"]}
    for server in _servers(api):
        assert server["status"] in ("ACTIVE", "ERROR"), server
        bound = [p for p in remaining.values() if p["device_id"] == server["id"]]
        if server["status"] == "ERROR":
            assert bound == []
        else:  # ACTIVE with its port bound to its VF, or with none if the port was deleted
            assert [p["binding:vif_type"] for p in bound] in (["hw_veb"], [])
    _assert_nothing_leaked(api)


def test_deletes_racing_boots(live_api: LiveApi, api_urls: list[str]) -> None:
    """A deleter removes every server it sees while boots are still scheduling and binding:
    each boot ends deleted or live with what it holds, and a deleted one holds nothing."""
    api = live_api.api
    _register(api)
    network_id = make_network(api, vlan=107, shared=True)
    make_subnet(api, network_id, cidr="10.7.0.0/24")
    body = {"server": {"name": "vm", "flavorRef": _flavor(api),
                       "networks": [{"uuid": network_id, "vnic_type": "direct"}]}}  # fmt: skip
    headers = {"X-Auth-Token": api.tokens["demo"]}
    booting = threading.Event()
    booting.set()

    def boot(i: int) -> None:
        with httpx.Client(base_url=api_urls[i % len(api_urls)], headers=headers,
                          timeout=240) as client:  # fmt: skip
            assert client.post(SERVERS, json=body).status_code == 202

    def delete_all(i: int) -> None:
        with httpx.Client(base_url=api_urls[i % len(api_urls)], headers=headers,
                          timeout=240) as client:  # fmt: skip
            while booting.is_set():
                for server in client.get(SERVERS).json()["servers"]:
                    client.delete(f"{SERVERS}/{server['id']}")

    deleters = [threading.Thread(target=delete_all, args=(i,)) for i in range(2)]
    for deleter in deleters:
        deleter.start()
    try:
        _all_at_once([lambda i=i: boot(i) for i in range(40)])
    finally:
        booting.clear()
        for deleter in deleters:
            deleter.join(timeout=60)
    _agents_report(api)
    _assert_nothing_leaked(api)
    live = {s["id"] for s in _servers(api)}
    ports = api.get("admin", PORTS).json()["ports"]
    assert {p["device_id"] for p in ports} - {""} <= live
