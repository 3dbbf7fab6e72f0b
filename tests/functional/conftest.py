from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from vfplane.cli.main import build_app

Invoke = Callable[..., Result]


@pytest.fixture
def vfplane(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``vfplane ARGS`` in process; returns the result with exit code and output."""
    monkeypatch.delenv("VFPLANE_CONFIG", raising=False)
    runner = CliRunner()
    app = build_app()

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return invoke
