"""``--log-format`` and ``[logging]`` reach the processes: ``vfplane server`` logs JSON lines
when asked (by option or environment), and ``vfplane up`` tells its agents the format."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vfplane import logs
from vfplane.cli import server as server_cli
from vfplane.cli import up as up_cli
from vfplane.cli.main import build_app
from vfplane.lab.cluster import load_cluster
from vfplane.settings import load_settings

RID = "req-2c000000-0000-4000-8000-000000000001"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No VFPLANE_ variables; the root logger given back as it was."""
    for name in [n for n in os.environ if n.startswith("VFPLANE_")]:
        monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def _serve(_app: Any, **_options: Any) -> None:
    """What the server logs while it serves a request (uvicorn's loop is not started)."""
    with logs.log_context(request_id=RID):
        logging.getLogger("vfplane.api.access").info("GET /v1/hosts 200")


@pytest.mark.parametrize(
    ("args", "environ"),
    [(["--log-format", "json"], {}), ([], {"VFPLANE_LOGGING__FORMAT": "json"})],
)
@pytest.mark.usefixtures("clean_env")
def test_vfplane_server_writes_json_lines_when_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], environ: dict[str, str]
) -> None:
    monkeypatch.setattr(server_cli.uvicorn, "run", _serve)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(build_app(), ["server", "--data-dir", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    lines = [json.loads(text) for text in result.stderr.splitlines()]  # every line is JSON
    assert lines[0]["message"].startswith("vfplane server on http://127.0.0.1:9696")
    assert (lines[-1]["logger"], lines[-1]["message"], lines[-1]["request_id"]) == (
        "vfplane.api.access", "GET /v1/hosts 200", RID)  # fmt: skip


@pytest.mark.usefixtures("clean_env")
def test_vfplane_server_writes_text_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(server_cli.uvicorn, "run", _serve)
    result = CliRunner().invoke(build_app(), ["server", "--data-dir", str(tmp_path)])
    assert result.stderr.splitlines()[-1].endswith(
        f" INFO vfplane.api.access [{RID}] GET /v1/hosts 200"
    )


def test_vfplane_up_tells_each_agent_the_log_format(tmp_path: Path) -> None:
    spec = load_cluster(None).hosts[0]
    host = up_cli.prepare_host(spec, tmp_path, "http://127.0.0.1:9696", 10.0, "json")
    assert load_settings(host.config, {}).logging.format == "json"
