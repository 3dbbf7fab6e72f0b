"""50 concurrent boots against 20 matching VFs, through two server processes' APIs."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from tests.functional.api.conftest import Api, LiveApi
from tests.functional.api.port_helpers import heartbeat, make_network
from vfplane.api.app import create_app
from vfplane.api.deps import ApiDependencies
from vfplane.db.engine import make_engine, make_session_factory

VFS = 20
BOOTS = 50
HOSTS = ("compute-1", "compute-2")


def _serve(deps: ApiDependencies) -> tuple[str, uvicorn.Server, threading.Thread]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(create_app(deps), host="127.0.0.1", port=port, log_config=None,
                            access_log=False, lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.02)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def second_server(live_api: LiveApi) -> Iterator[str]:
    """Another API process on the same database (its own engine, pool and notifier)."""
    url = live_api.api.deps.sessions.kw["bind"].url.render_as_string(hide_password=False)
    engine = make_engine(str(url))
    settings = live_api.api.deps.settings
    deps = ApiDependencies.from_settings(settings, make_session_factory(engine))
    url, server, thread = _serve(deps)
    yield url
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _register(api: Api) -> None:
    for h, host in enumerate(HOSTS):
        bus = 0x3B + h
        pf = f"0000:{bus:02x}:00.0"
        tags = {"physical_network": "physnet1"}
        common = {"vendor_id": "8086", "physical_network": "physnet1", "tags": tags}
        devices = [{"address": pf, "product_id": "1572", "dev_type": "type-PF", **common}]
        for i in range(VFS // len(HOSTS)):
            address = f"0000:{bus:02x}:{2 + i // 8:02x}.{i % 8}"
            devices.append({"address": address, "product_id": "154c", "dev_type": "type-VF",
                            "parent_addr": pf, "vf_index": i, **common})  # fmt: skip
        body = {"vcpus": 512, "memory_mb": 1 << 20, "devices": devices}
        assert api.put("admin", f"/v1/hosts/{host}", body).status_code == 200
        heartbeat(api, host)


def test_no_vf_is_handed_out_twice(live_api: LiveApi, second_server: str) -> None:
    api = live_api.api
    _register(api)
    network_id = make_network(api, vlan=108)
    flavor = {"flavor": {"name": "tiny", "vcpus": 1, "ram": 256, "disk": 1, "id": None}}
    flavor_id = api.post("admin", "/compute/v2.1/flavors", flavor).json()["flavor"]["id"]
    body = {"server": {"name": "vm", "flavorRef": flavor_id,
                       "networks": [{"uuid": network_id, "vnic_type": "direct"}]}}  # fmt: skip
    headers = {"X-Auth-Token": api.tokens["admin"]}
    results: list[int] = []

    def boot(url: str) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            response = client.post("/compute/v2.1/servers", json=body)
            results.append(response.status_code)

    urls = [live_api.url, second_server]
    threads = [threading.Thread(target=boot, args=(urls[i % 2],)) for i in range(BOOTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert results == [202] * BOOTS
    servers: list[dict[str, Any]] = api.get("admin", "/compute/v2.1/servers/detail").json()[
        "servers"
    ]
    statuses = Counter(s["status"] for s in servers)
    assert statuses == {"BUILD": VFS, "ERROR": BOOTS - VFS}
    devices = [d for h in HOSTS
               for d in api.get("admin", f"/v1/devices?host={h}").json()["devices"]]  # fmt: skip
    vfs = [d for d in devices if d["dev_type"] == "type-VF"]
    assert Counter(d["status"] for d in vfs) == {"allocated": VFS}
    ports = api.get("admin", "/network/v2.0/ports").json()["ports"]
    slots = [p["binding:profile"]["pci_slot"] for p in ports if p["binding:profile"]]
    assert len(slots) == len(set(slots)) == VFS
