"""A token revoked through one server process is refused by the others at once, however
long their token caches would keep it (PostgreSQL's NOTIFY tells them; on SQLite there is
one server process)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.functional.api.conftest import Api, Database, make_settings
from tests.functional.security.accounts import TOKENS, login, new_member
from vfplane.api.app import create_app
from vfplane.api.deps import ApiDependencies
from vfplane.db.engine import make_engine, make_session_factory
from vfplane.service.token_cache import TokenCache

PROBE = "/network/v2.0/networks"
AN_HOUR = 3600.0


@pytest.fixture
def other_server(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    """Another server process's app on the same database, its token cache an hour long."""
    if not database.url.startswith("postgresql"):
        pytest.skip("on SQLite one server process serves the database")
    engine = make_engine(database.url)
    settings = make_settings(tmp_path / "other", database.url)
    deps = ApiDependencies.from_settings(settings, make_session_factory(engine))
    app = create_app(replace(deps, tokens=TokenCache(ttl=AN_HOUR)), build_models=False)
    with TestClient(app) as client:
        for listener in app.state.listeners:
            assert listener.connected.wait(10), "the other server does not listen"
        yield client
    engine.dispose()


def test_a_token_revoked_elsewhere_is_refused_at_once(api: Api, other_server: TestClient) -> None:
    token = login(api, new_member(api))
    headers = {"X-Auth-Token": token}
    assert other_server.get(PROBE, headers=headers).status_code == 200
    cache: TokenCache = other_server.app.state.deps.tokens  # type: ignore[attr-defined]
    assert cache.get(token, api.deps.clock()) is not None  # cached for an hour
    revoke = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert api.client.delete(TOKENS, headers=revoke).status_code == 204
    deadline = time.monotonic() + 5
    while other_server.get(PROBE, headers=headers).status_code != 401:
        assert time.monotonic() < deadline, "the other server still accepts a revoked token"
        time.sleep(0.05)
