from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from vfplane.cli.main import build_app

Invoke = Callable[..., Result]


@pytest.fixture
def vfplane(monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """Run ``vfplane ARGS`` in process; returns the result with exit code and output. The
    logging a command sets up (``vfplane.logs``) is undone afterwards."""
    monkeypatch.delenv("VFPLANE_CONFIG", raising=False)
    runner = CliRunner()
    app = build_app()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    yield invoke
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
