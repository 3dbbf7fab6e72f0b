"""PostgreSQL restarted under load: requests in flight succeed or get a 503 (never a 500),
and once the database is back every request succeeds again without restarting vfplane.

The test starts a PostgreSQL of its own (initdb in a temporary directory, run as the
``postgres`` user) so that restarting it touches no other database on the machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.functional.api.conftest import _accounts, make_settings
from vfplane.api.app import create_app
from vfplane.api.deps import ApiDependencies
from vfplane.db import migrate
from vfplane.db.engine import make_engine, make_session_factory

WORKERS = 3


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(*command: str | Path) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL of this test's own: its URL and its data directory (outside pytest's
    temporary directories, which only root may enter)."""
    pg_bin = _pg_bin()
    if pg_bin is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs PostgreSQL's binaries and root (to run them as postgres)")
    home = Path(tempfile.mkdtemp(prefix="vfplane-pg-"))
    shutil.chown(home, "postgres", "postgres")
    data = home / "data"
    _as_postgres(pg_bin / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    port = _free_port()
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = (pg_bin / "pg_ctl", "-D", data, "-o", options, "-l", data / "log", "-w")
    _as_postgres(*ctl, "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", data
    finally:
        _as_postgres(*ctl, "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


def _serve(app: object) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,  # type: ignore[arg-type]
                            access_log=False, lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.02)
    return f"http://127.0.0.1:{port}", server, thread


def _load(url: str, token: str, stop: threading.Event, seen: list[int]) -> None:
    with httpx.Client(base_url=url, headers={"X-Auth-Token": token}, timeout=30) as client:
        network = {"network": {"name": "n", "provider:network_type": "vlan",
                               "provider:physical_network": "physnet1"}}  # fmt: skip
        network_id = client.post("/network/v2.0/networks", json=network).json()["network"]["id"]
        while not stop.is_set():
            seen.append(client.get("/network/v2.0/networks").status_code)
            port = {"port": {"network_id": network_id}}
            seen.append(client.post("/network/v2.0/ports", json=port).status_code)


def test_postgresql_restarted_under_load(
    private_postgres: tuple[str, Path], tmp_path: Path
) -> None:
    url, data = private_postgres
    engine = make_engine(url)
    migrate.upgrade(engine)
    tokens = _accounts(engine)
    settings = make_settings(tmp_path, url)
    app = create_app(ApiDependencies.from_settings(settings, make_session_factory(engine)))
    base, server, thread = _serve(app)
    stop, seen = threading.Event(), list[int]()
    workers = [threading.Thread(target=_load, args=(base, tokens["admin"], stop, seen))
               for _ in range(WORKERS)]  # fmt: skip
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        pg_ctl = _pg_bin() / "pg_ctl"  # type: ignore[operator]
        _as_postgres(pg_ctl, "-D", data, "-m", "fast", "-w", "restart")
        time.sleep(1.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    assert set(seen) <= {200, 201, 503}, sorted(set(seen))
    assert 503 in seen  # the restart did meet requests in flight
    with httpx.Client(base_url=base, headers={"X-Auth-Token": tokens["admin"]}) as client:
        after = [client.get("/network/v2.0/networks").status_code for _ in range(5)]
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
    assert after == [200] * 5
