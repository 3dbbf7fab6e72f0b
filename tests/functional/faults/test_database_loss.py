"""PostgreSQL drops the server's connections (``pg_terminate_backend``) while requests are in
flight: each request either succeeds or gets a 503 saying the database connection was lost
(never a 500), and the server goes on serving once the database is back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import psycopg
import pytest

from tests.functional.api.conftest import Database, LiveApi
from tests.functional.api.port_helpers import make_network

KILL = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()")  # fmt: skip
WORKERS = 4
KILLING_S = 2.0


def _killer(url: str, stop: threading.Event, killed: list[int]) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        while not stop.wait(0.05):
            row = conn.execute(KILL).fetchone()
            killed.append(int(row[0]) if row else 0)


def _terminate_all(url: str) -> None:
    """Terminate every other connection to the database and wait until their backends are
    gone (each has sent its client the FATAL message by then)."""
    others = ("SELECT count(*) FROM pg_stat_activity "
              "WHERE datname = current_database() AND pid <> pg_backend_pid()")  # fmt: skip
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        row = conn.execute(KILL).fetchone()
        assert row is not None
        assert row[0] > 0
        deadline = time.monotonic() + 10
        while (row := conn.execute(others).fetchone()) and row[0] and time.monotonic() < deadline:
            time.sleep(0.02)


def _worker(live: LiveApi, network_id: str, stop: threading.Event,
            seen: list[httpx.Response]) -> None:  # fmt: skip
    headers = {"X-Auth-Token": live.api.tokens["admin"]}
    body = {"port": {"network_id": network_id}}
    with httpx.Client(base_url=live.url, headers=headers, timeout=30) as client:
        while not stop.is_set():
            seen.append(client.get("/network/v2.0/networks"))
            seen.append(client.post("/network/v2.0/ports", json=body))


def _run_all(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def test_requests_during_a_database_connection_loss_get_a_503_and_the_server_recovers(
    live_api: LiveApi, database: Database
) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("connections are terminated on PostgreSQL")
    network_id = make_network(live_api.api, vlan=108)
    stop, killed, seen = threading.Event(), list[int](), list[httpx.Response]()
    workers: list[Callable[[], None]] = [
        lambda: _worker(live_api, network_id, stop, seen) for _ in range(WORKERS)
    ]
    timer = threading.Timer(KILLING_S, stop.set)
    timer.start()
    _run_all([*workers, lambda: _killer(database.url, stop, killed)])
    assert sum(killed) > 0  # connections were terminated while requests ran
    statuses = [r.status_code for r in seen]
    assert set(statuses) <= {200, 201, 503}, [r.text for r in seen if r.status_code >= 500]
    for response in (r for r in seen if r.status_code == 503):
        message = response.json()["NeutronError"]["message"]
        assert "database connection was lost" in message
    _terminate_all(database.url)  # the pooled connections die while idle, once more
    for _ in range(3):  # the pool has recovered: every request succeeds again
        assert live_api.api.get("admin", "/network/v2.0/networks").status_code == 200
        made = live_api.api.post("admin", "/network/v2.0/ports",
                                 {"port": {"network_id": network_id}})  # fmt: skip
        assert made.status_code == 201, made.text
