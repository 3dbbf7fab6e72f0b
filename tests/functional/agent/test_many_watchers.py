"""Hundreds of agents long-polling at once cost no threads; a change wakes only its host."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx

from tests.functional.api.conftest import LiveApi
from tests.functional.api.port_helpers import heartbeat, make_network, make_port

WATCHERS_A, WATCHERS_B = 200, 100


def _register(live: LiveApi, host: str) -> int:
    body = {"vcpus": 8, "memory_mb": 8192, "devices": []}
    live.api.put("admin", f"/v1/hosts/{host}", body)
    state = live.api.get("admin", f"/v1/hosts/{host}/desired?timeout=0").json()
    return int(state["revision"])


async def _watch_all(live: LiveApi, revisions: dict[str, int]) -> list[tuple[str, int, float]]:
    headers = {"X-Auth-Token": live.api.tokens["admin"]}
    limits = httpx.Limits(max_connections=WATCHERS_A + WATCHERS_B)
    async with httpx.AsyncClient(base_url=live.url, headers=headers, timeout=30,
                                 limits=limits) as client:  # fmt: skip

        async def watch(host: str) -> tuple[str, int, float]:
            started = time.monotonic()
            # host-a's watchers would wait a minute unless woken; host-b's give up soon
            params = {"since": revisions[host], "timeout": 60 if host == "host-a" else 10}
            response = await client.get(f"/v1/hosts/{host}/desired", params=params)
            return host, int(response.json()["revision"]), time.monotonic() - started

        hosts = ["host-a"] * WATCHERS_A + ["host-b"] * WATCHERS_B
        return await asyncio.gather(*(watch(h) for h in hosts))


def test_a_change_wakes_the_watchers_of_its_host_only(live_api: LiveApi) -> None:
    revisions = {host: _register(live_api, host) for host in ("host-a", "host-b")}
    results: list[Any] = []
    watchers = threading.Thread(target=lambda: results.extend(asyncio.run(
        _watch_all(live_api, revisions))))  # fmt: skip
    watchers.start()
    deps = live_api.api.deps
    deadline = time.monotonic() + 10
    while deps.notifier.waiting() < WATCHERS_A + WATCHERS_B and time.monotonic() < deadline:
        time.sleep(0.05)
    assert deps.notifier.waiting() == WATCHERS_A + WATCHERS_B
    heartbeat(live_api.api, "host-a")
    network_id = make_network(live_api.api, vlan=105)
    binding = {"binding:vnic_type": "direct", "binding:host_id": "host-a",
               "binding:profile": {"pci_slot": "0000:3b:02.0"}}  # fmt: skip
    make_port(live_api.api, "admin", network_id, **binding)
    watchers.join(timeout=45)
    assert not watchers.is_alive(), "host-a's watchers were not woken"
    woken = [r for r in results if r[0] == "host-a"]
    idle = [r for r in results if r[0] == "host-b"]
    assert len(woken) == WATCHERS_A
    assert all(revision > revisions["host-a"] for _, revision, _ in woken)  # woken, not timed out
    assert all(revision == revisions["host-b"] for _, revision, _ in idle)
