"""A server that stops waits for the sweep it has started: a sweep left running in a worker
thread would act on the database after its app is gone (with that app's clock and view)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.functional.api.conftest import Database, make_settings
from vfplane.api import app as app_module
from vfplane.api.app import create_app
from vfplane.api.deps import ApiDependencies
from vfplane.db.engine import make_session_factory


def test_shutdown_waits_for_the_sweep_in_progress(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow_sweep(_deps: ApiDependencies) -> list[object]:
        entered.set()
        release.wait(10)
        finished.set()
        return []

    monkeypatch.setattr(app_module, "sweep_orphaned_devices", slow_sweep)
    settings = make_settings(tmp_path, database.url)
    deps = ApiDependencies.from_settings(settings, make_session_factory(database.engine))
    with TestClient(create_app(deps, build_models=False)):
        assert entered.wait(10), "the startup sweep did not start"
        threading.Timer(0.3, release.set).start()  # the sweep ends while the app stops
    assert finished.is_set()  # the app stopped only after its sweep
