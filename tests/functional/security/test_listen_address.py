"""The API listens on the loopback interface unless it is told otherwise."""

from __future__ import annotations

import os
import signal
import socket
import tomllib
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from tests.functional.conftest import Invoke
from vfplane.cli import server as server_cli
from vfplane.cli import up as up_cli
from vfplane.settings import Settings, load_settings


def test_the_default_bind_address_is_loopback(tmp_path: Path) -> None:
    assert Settings().server.bind == "127.0.0.1"
    assert load_settings(None, {}).server.bind == "127.0.0.1"
    config = tmp_path / "vfplane.toml"
    config.write_text('[server]\nport = 9000\n[database]\nurl = "sqlite://"\n')
    settings = load_settings(config, {})
    assert (settings.server.bind, settings.server.public_base()) == (
        "127.0.0.1",
        "http://127.0.0.1:9000",
    )


def test_another_address_only_when_configured(tmp_path: Path) -> None:
    config = tmp_path / "vfplane.toml"
    config.write_text('[server]\nbind = "0.0.0.0"\n')
    assert load_settings(config, {}).server.bind == "0.0.0.0"
    environ = {"VFPLANE_SERVER__BIND": "192.0.2.10"}
    assert load_settings(None, environ).server.bind == "192.0.2.10"


BINDS = [({}, "127.0.0.1"), ({"VFPLANE_SERVER__BIND": "::1"}, "::1")]


@pytest.mark.parametrize(("environ", "expected"), BINDS)
def test_vfplane_server_listens_where_configured(
    vfplane: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    environ: dict[str, str],
    expected: str,
) -> None:
    for name in [n for n in os.environ if n.startswith("VFPLANE_")]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    served: dict[str, Any] = {}
    monkeypatch.setattr(server_cli.uvicorn, "run", lambda app, **kwargs: served.update(kwargs))
    result = vfplane("server", "--data-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert served["host"] == expected


class _Server:
    """Stands in for uvicorn.Server: records its config and stops at once."""

    configs: ClassVar[list[Any]] = []

    def __init__(self, config: Any) -> None:
        self.configs.append(config)
        self.started, self.should_exit = False, True

    def run(self) -> None:
        return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_vfplane_up_serves_and_points_everything_at_loopback(
    vfplane: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(up_cli.uvicorn, "Server", _Server)
    monkeypatch.setattr(up_cli.logs, "setup_logging", lambda *_, **__: None)
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    _Server.configs.clear()
    port = _free_port()
    result = vfplane("up", "--data-dir", tmp_path, "--port", str(port))
    assert result.exit_code == 0, result.output
    (config,) = _Server.configs
    assert (config.host, config.port) == ("127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    agents = sorted((tmp_path / "hosts").glob("*/agent.toml"))
    assert agents
    for path in agents:
        assert tomllib.loads(path.read_text())["agent"]["server_url"] == url
    clouds = yaml.safe_load((tmp_path / "clouds.yaml").read_text())["clouds"]
    assert {c["auth"]["auth_url"] for c in clouds.values()} == {f"{url}/identity/v3"}
