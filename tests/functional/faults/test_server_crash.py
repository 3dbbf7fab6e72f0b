"""The server process dies between claiming a boot's devices and finishing its bindings.

``servers.boot`` runs inside one request: it commits the server (BUILD, ``networking``)
and its claims, then binds the ports, then allocates. The crash is made exact by
replacing the step after the claim with one that raises a ``BaseException`` nothing
catches, as the process dying there would. Nothing can finish that boot afterwards: the
next server process (a fresh app, with its start-up sweeps) must end it in ERROR with a
fault saying what it was waiting for, and give its devices and port back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NoReturn

import pytest
from fastapi.testclient import TestClient

from tests.functional.api.conftest import Api, Database, make_settings
from tests.functional.api.port_helpers import make_network, make_port
from tests.functional.faults.cloud import (
    HOST,
    device_states,
    flavor,
    port_left_alone,
    register_host,
    show_server,
)
from vfplane.api import app as app_module
from vfplane.api.app import create_app
from vfplane.api.compute.servers import boot_tools
from vfplane.api.deps import ApiDependencies
from vfplane.db.compute_tables import Server
from vfplane.db.engine import make_session_factory
from vfplane.service import claims, servers
from vfplane.service.context import RequestContext
from vfplane.service.server_ports import NicRequest

BUILD_TIMEOUT = 0.5


class ProcessDied(BaseException):
    """The server process ends here."""


def _die(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise ProcessDied("the server process was killed here")


def _boot_and_die(api: Api, port_id: str, monkeypatch: pytest.MonkeyPatch, at: str) -> str:
    """Boot with the step ``at`` killing the process; returns the half-built server's id."""
    target = servers if at == "bind_ports" else claims
    monkeypatch.setattr(target, at, _die)
    context = RequestContext("admin", api.project_of("admin"), frozenset({"admin"}))
    request = servers.BootRequest("vm", flavor(api), None, None, [NicRequest(port_id=port_id)])
    with pytest.raises(ProcessDied), api.deps.sessions() as session:
        servers.boot(session, context, request, boot_tools(api.deps), api.deps.clock())
    monkeypatch.undo()
    with api.deps.sessions() as session:
        (server,) = session.query(Server).all()
        assert (server.status, server.task_state, server.host) == ("BUILD", "networking", HOST)
        return server.id


def _restarted_app(api: Api, database: Database, tmp_path: Path) -> TestClient:
    settings = make_settings(tmp_path, database.url, compute={"build_timeout": BUILD_TIMEOUT})
    deps = ApiDependencies.from_settings(settings, make_session_factory(database.engine))
    return TestClient(create_app(deps, build_models=False), raise_server_exceptions=False)


@pytest.mark.parametrize("at", ["bind_ports", "allocate"])
def test_a_boot_cut_short_after_its_claim_is_failed_and_given_back_after_restart(
    api: Api, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: str
) -> None:
    register_host(api)
    port = make_port(api, "admin", make_network(api, vlan=104), **{"binding:vnic_type": "direct"})
    server_id = _boot_and_die(api, port["id"], monkeypatch, at)
    assert "claimed" in device_states(api).values()  # held by a boot nobody will finish
    assert api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()["servers"] == []
    monkeypatch.setattr(app_module, "SWEEP_INTERVAL", 0.05)
    with _restarted_app(api, database, tmp_path):  # its lifespan runs the sweeps
        deadline = time.monotonic() + 10
        while show_server(api, server_id)["status"] == "BUILD" and time.monotonic() < deadline:
            time.sleep(0.05)
    shown = show_server(api, server_id)
    assert shown["status"] == "ERROR"
    message = shown["fault"]["message"]
    assert f"Build timed out after {BUILD_TIMEOUT:g} s on host {HOST}" in message
    assert "waiting for its ports to be bound" in message
    assert set(device_states(api).values()) == {"available"}
    assert port_left_alone(api, port["id"])
