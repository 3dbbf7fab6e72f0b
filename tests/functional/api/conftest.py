"""The API in process, on SQLite and (with VFPLANE_TEST_DATABASE_URL) on PostgreSQL.

Accounts and their tokens are made once per database; every test starts with no
networks, ports, agents or QoS policies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from vfplane.api.app import create_app
from vfplane.api.deps import ApiDependencies, utc_now
from vfplane.db import migrate
from vfplane.db.compute_tables import InstanceAction, Server
from vfplane.db.engine import make_engine, make_session_factory
from vfplane.db.tables import (
    Agent,
    Flavor,
    FlavorAccess,
    FlavorExtraSpec,
    Host,
    Image,
    IpAllocation,
    Network,
    PciDeviceRecord,
    Port,
    PortBinding,
    QosPolicy,
    QosRule,
)
from vfplane.db.tables import Subnet as SubnetRow
from vfplane.service import identity
from vfplane.settings import Settings

PG_URL = os.environ.get("VFPLANE_TEST_DATABASE_URL")
PASSWORD = "secret-password"
# Ordered so that rows are deleted before the rows they refer to.
RESOURCE_TABLES = (
    InstanceAction,
    Server,
    IpAllocation,
    PortBinding,
    Port,
    SubnetRow,
    Network,
    QosRule,
    QosPolicy,
    Agent,
    PciDeviceRecord,
    Host,
    FlavorExtraSpec,
    FlavorAccess,
    Flavor,
    Image,
)

USERS = {
    # name: (project, role)
    "admin": ("admin", "admin"),
    "demo": ("demo", "member"),
    "other": ("other", "member"),
    "reader": ("demo", "reader"),
    "agent": ("service", "service"),
    "agent-c1": ("service", "service"),  # the agent account of host compute-1 only
}
SCOPED_HOSTS = {"agent-c1": "compute-1"}

SETTINGS = {
    "server": {"public_url": "http://testserver"},
    "network": {"network_vlan_ranges": ["physnet1:100:109", "physnet2:200:201", "physnet3"]},
}


def _accounts(engine: Engine) -> dict[str, str]:
    """Create the users once; returns a token per user."""
    tokens: dict[str, str] = {}
    with make_session_factory(engine)() as session:
        roles = {name: identity.ensure_role(session, name) for name in identity.ROLES}
        for name, (project_name, role) in USERS.items():
            project = identity.ensure_project(session, project_name)
            user = identity.ensure_user(session, name, PASSWORD, project)
            user.host = SCOPED_HOSTS.get(name)
            identity.grant(session, user, project, roles[role])
        session.commit()
        for name, (project_name, _) in USERS.items():
            auth = identity.PasswordAuth(PASSWORD, user_name=name, project_name=project_name)
            issued = identity.authenticate(session, auth, utc_now(), timedelta(hours=8))
            tokens[name] = issued.token
    return tokens


def _backends() -> list[Any]:
    pg = pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(PG_URL is None, reason="VFPLANE_TEST_DATABASE_URL is not set"),
    )
    return ["sqlite", pg]


@dataclass
class Database:
    engine: Engine
    tokens: dict[str, str]
    url: str

    def clear(self) -> None:
        with Session(self.engine) as session:
            for table in RESOURCE_TABLES:
                session.execute(delete(table))
            session.commit()


@pytest.fixture(scope="session", params=_backends())
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'vfplane.db'}"
    else:
        assert PG_URL is not None
        url = PG_URL
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield Database(engine, _accounts(engine), url)
    engine.dispose()


@dataclass
class Api:
    """Calls the API as one of the test users: ``api.post("demo", "/network/v2.0/...")``."""

    client: TestClient
    tokens: dict[str, str]
    deps: ApiDependencies
    project_ids: dict[str, str] = field(default_factory=dict)

    def call(self, who: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["X-Auth-Token"] = self.tokens[who]
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, who: str | None, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(who, "GET", path, **kwargs)

    def post(self, who: str | None, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.call(who, "POST", path, json=body, **kwargs)

    def put(self, who: str | None, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.call(who, "PUT", path, json=body, **kwargs)

    def delete(self, who: str | None, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(who, "DELETE", path, **kwargs)

    def project_of(self, who: str) -> str:
        """The project id of a test user, from its token."""
        if who not in self.project_ids:
            body = self.get(who, "/identity/v3/auth/tokens",
                            headers={"X-Subject-Token": self.tokens[who]}).json()  # fmt: skip
            self.project_ids[who] = body["token"]["project"]["id"]
        return self.project_ids[who]


def make_settings(tmp_path: Path, url: str, **sections: dict[str, Any]) -> Settings:
    data: dict[str, Any] = {key: dict(value) for key, value in SETTINGS.items()}
    data["server"]["data_dir"] = str(tmp_path)
    data["database"] = {"url": url}
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return Settings.model_validate(data)


@pytest.fixture
def api(database: Database, tmp_path: Path) -> Iterator[Api]:
    database.clear()
    settings = make_settings(tmp_path, database.url)
    deps = ApiDependencies.from_settings(settings, make_session_factory(database.engine))
    # One TestClient thread: FastAPI's lazy model building cannot race, so skip the warm-up
    # (live_api, which serves threads, does it).
    app = create_app(deps, build_models=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, database.tokens, deps)


@dataclass
class LiveApi:
    """The same API served by uvicorn on a loopback port, for real HTTP clients."""

    url: str
    api: Api


@pytest.fixture
def live_api(api: Api) -> Iterator[LiveApi]:
    import socket
    import threading

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    api.client.app.openapi()  # build every route's models before requests arrive in parallel
    options = {"log_config": None, "access_log": False, "timeout_graceful_shutdown": 1}
    config = uvicorn.Config(api.client.app, host="127.0.0.1", port=port, lifespan="off", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.02)
    yield LiveApi(f"http://127.0.0.1:{port}", api)
    server.should_exit = True
    thread.join(timeout=10)
