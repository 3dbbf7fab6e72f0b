"""A real ``vfplane server`` process on a database the tests share, configured through the
environment, for tests that need a second server or a server to kill."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/identity/v3", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def served(
    database_url: str, data_dir: Path, **settings: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m vfplane server`` on ``database_url`` until it answers (its base URL and
    process); ``settings`` are ``section__key`` values; killed when left."""
    port = free_port()
    env = {**os.environ, "VFPLANE_SERVER__PORT": str(port),
           "VFPLANE_SERVER__DATA_DIR": str(data_dir), "VFPLANE_DATABASE__URL": database_url,
           **{f"VFPLANE_{k.upper()}": v for k, v in settings.items()}}  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "vfplane", "server"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(base):
            assert process.poll() is None, "vfplane server exited"
            assert time.monotonic() < deadline, (
                f"vfplane server did not answer in {START_TIMEOUT_S} s"
            )
            time.sleep(0.05)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
