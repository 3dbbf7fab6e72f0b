"""``vfplane up`` checks its port before starting: a port another process listens on is
refused with one line, while a port held only by the previous run's connections in TIME_WAIT
is accepted, as uvicorn (SO_REUSEADDR) would bind it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.conftest import Invoke
from vfplane import logs
from vfplane.cli import up as up_cli
from vfplane.client import ApiCallError

LOOPBACK = "127.0.0.1"


def _plain_bind_fails(port: int) -> bool:
    """Whether a bind without SO_REUSEADDR (the probe as it was) is refused."""
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return True
        return False


def _port_in_time_wait() -> int:
    """A port with no listener whose only socket is a closed connection in TIME_WAIT, as a
    stopped `vfplane up` leaves it: the server side closes first, so it is the side that holds
    TIME_WAIT (60 s on Linux). The listener sets SO_REUSEADDR as uvicorn's does; the TIME_WAIT
    socket inherits it, and Linux lets a new bind reuse the address only if both have it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        with socket.create_connection((LOOPBACK, port)) as client:
            served, _ = listener.accept()
            served.close()
            assert client.recv(1) == b""  # the server's FIN arrived
    deadline = time.monotonic() + 5
    while not _plain_bind_fails(port):  # the client's FIN moves the server side to TIME_WAIT
        assert time.monotonic() < deadline, "the connection did not reach TIME_WAIT"
        time.sleep(0.01)
    return port


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_port_in_time_wait_is_accepted() -> None:
    port = _port_in_time_wait()
    assert _plain_bind_fails(port)  # what made `vfplane up` refuse to restart for a minute
    up_cli._check_port(port)


def test_a_port_with_a_listener_is_refused(listening_port: int) -> None:
    with pytest.raises(ApiCallError, match=f"port {listening_port} on 127.0.0.1 is in use"):
        up_cli._check_port(listening_port)


def test_vfplane_up_on_a_port_with_a_listener_exits_with_one_line(
    vfplane: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, listening_port: int
) -> None:
    monkeypatch.setattr(logs, "setup_logging", lambda *_, **__: None)
    result = vfplane("up", "--data-dir", tmp_path, "--port", str(listening_port))
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: port {listening_port} on 127.0.0.1 is in use (")
    assert line.endswith("; choose another with --port")
