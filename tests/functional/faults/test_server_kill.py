"""A ``vfplane server`` process SIGKILLed between claiming a boot's devices and binding its
port; the next server process ends the build in ERROR and gives everything back.

The kill lands exactly there on PostgreSQL: the test holds the port's row lock, so the boot
claims its VF, commits its step, and then waits in its binding, where it is killed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.functional.api.conftest import Api, Database
from tests.functional.api.port_helpers import make_network, make_port, make_subnet
from tests.functional.faults.cloud import (
    NEW,
    SERVERS,
    device_states,
    flavor,
    port_left_alone,
    register_host,
    show_server,
)
from tests.functional.server_process import served


def _until(done: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def _scalar(url: str, sql: str, *params: object) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


def test_a_server_killed_between_claim_and_binding(
    api: Api, database: Database, tmp_path: Path
) -> None:
    if not database.url.startswith("postgresql"):
        pytest.skip("the kill point is held with a PostgreSQL row lock")
    url = database.url.replace("+psycopg", "")
    register_host(api)
    network_id = make_network(api, vlan=101)
    make_subnet(api, network_id)
    port_id = make_port(api, "admin", network_id, **{"binding:vnic_type": "direct"})["id"]
    body = {"server": {"name": "vm", "flavorRef": flavor(api)["id"],
                       "networks": [{"port": port_id}]}}  # fmt: skip
    headers = {**NEW, "X-Auth-Token": api.tokens["admin"]}
    with served(database.url, tmp_path / "a") as (base, process), psycopg.connect(url) as holder:
        holder.execute("SELECT id FROM ports WHERE id = %s FOR UPDATE", (port_id,))
        threading.Thread(target=lambda: _post(base, body, headers), daemon=True).start()
        _until(lambda: _scalar(url, "SELECT count(*) FROM pci_devices WHERE status = "
                               "'claimed'") == 1, 30, "the claim")  # fmt: skip
        _until(lambda: _scalar(url, "SELECT task_state FROM servers") == "networking", 30,
               "the boot to commit its step")  # fmt: skip
        process.kill()
        process.wait(timeout=10)
        holder.rollback()
    server_id = str(_scalar(url, "SELECT id FROM servers"))
    assert show_server(api, server_id)["status"] == "BUILD"  # nobody finishes it ...
    with served(database.url, tmp_path / "b", compute__build_timeout="1"):
        _until(lambda: show_server(api, server_id)["status"] == "ERROR", 30,
               "the next server to end the build")  # fmt: skip
    fault = show_server(api, server_id)["fault"]["message"]
    assert fault.startswith("Build timed out"), fault
    assert set(device_states(api).values()) == {"available"}
    assert port_left_alone(api, port_id)


def _post(base: str, body: object, headers: dict[str, str]) -> None:
    with contextlib.suppress(httpx.TransportError):  # the server is killed meanwhile
        httpx.post(f"{base}{SERVERS}", json=body, headers=headers, timeout=60)
