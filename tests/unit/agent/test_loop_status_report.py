"""The agent's port status report tells the server only what its desired state does not
show yet: ports up that are not ACTIVE there, ports down, and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vfplane.agent.inventory import scan_host
from vfplane.agent.loop import Agent
from vfplane.agent.reconcile import Reconciler
from vfplane.domain.pci import PciAddress
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.vf_state_store import VfStateStore
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs
from vfplane.settings import AgentSettings, PciSettings

HOST = "compute-1"
PF = PciAddress.parse("0000:3b:00.0")
STATUS_PATH = f"/v1/hosts/{HOST}/ports/status"
NO_STATUS = object()


class FakeServer:
    """A hand-written ``ApiClient``: serves a desired state and applies status reports to
    it as the server does (up → ACTIVE, down → DOWN, errors → ERROR), to ports whose
    entry carries a status (an older server's entries carry none)."""

    def __init__(self) -> None:
        self.ports: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.headers: list[str | None] = []  # each report's X-OpenStack-Request-ID

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        if method == "GET" and path == f"/v1/hosts/{HOST}/desired":
            return {"revision": 7, "ports": [dict(p) for p in self.ports]}
        if method == "POST" and path == STATUS_PATH:
            body = kwargs["json"]
            self.reports.append(body)
            self.headers.append(kwargs.get("request_id"))
            statuses = {**dict.fromkeys(body["down"], "DOWN"),
                        **dict.fromkeys(body["up"], "ACTIVE"),
                        **{e["port_id"]: "ERROR" for e in body["errors"]}}  # fmt: skip
            for port in self.ports:
                if port["port_id"] in statuses and port.get("status") is not None:
                    port["status"] = statuses[port["port_id"]]
            return {}
        if method == "PUT" and path == f"/v1/hosts/{HOST}":
            return {}
        raise AssertionError(f"unexpected call {method} {path}")

    def close(self) -> None:
        pass


@pytest.fixture
def root(tmp_path: Path) -> Path:
    lab = LabSysfs(tmp_path / "root")
    lab.add_card(PROFILES["x710"], pfs=1, vfs=4)
    lab.write_topology(16, 32768, 2)
    return lab.root


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def agent(root: Path, tmp_path: Path, server: FakeServer) -> Agent:
    settings = AgentSettings(host=HOST, sysfs_root=root, physical_device_mappings="physnet1:ens1f0")
    pci = PciSettings(device_spec=[{"address": str(PF), "physical_network": "physnet1"}])
    reconciler = Reconciler(SimulatedNic(root), VfStateStore(tmp_path / "state"))
    made = Agent(HOST, server, reconciler, lambda: scan_host(settings, pci))  # type: ignore[arg-type]
    made._rescan()
    return made


def _port(port_id: str, vf: int, status: object = NO_STATUS) -> dict[str, Any]:
    """A desired-state entry as ``GET /v1/hosts/{host}/desired`` gives it."""
    port = {"port_id": port_id, "pci_slot": f"0000:3b:02.{vf}",
            "mac_address": f"fa:16:3e:00:00:0{vf}", "vlan": 100 + vf, "admin_state_up": True,
            "port_security_enabled": True, "trusted": None, "propagate_uplink_status": False,
            "max_kbps": None, "min_kbps": None, "vnic_type": "direct",
            "vif_type": "hw_veb"}  # fmt: skip
    if status is not NO_STATUS:
        port["status"] = status
    return port


def test_ports_already_active_are_not_reported_up_again(
    agent: Agent, server: FakeServer, root: Path
) -> None:
    server.ports = [_port("p-active", 0, "ACTIVE"), _port("p-down", 1, "DOWN"),
                    _port("p-error", 2, "ERROR"), _port("p-build", 3, "BUILD")]  # fmt: skip
    assert agent.reconcile_once(-1) == 7
    assert len(server.reports) == 1
    report = server.reports[0]
    assert sorted(report["up"]) == ["p-build", "p-down", "p-error"]
    assert (report["down"], report["errors"]) == ([], [])
    vlans = {i: vf.vlan for i, vf in SimulatedNic(root).read_vfs("ens1f0").items()}
    assert vlans == {0: 100, 1: 101, 2: 102, 3: 103}  # the ACTIVE port's VF was configured too


def test_once_the_server_shows_them_active_nothing_is_reported(
    agent: Agent, server: FakeServer
) -> None:
    server.ports = [_port("p1", 1, "DOWN"), _port("p2", 2, "BUILD")]
    agent.reconcile_once(-1)
    assert [sorted(r["up"]) for r in server.reports] == [["p1", "p2"]]
    assert [p["status"] for p in server.ports] == ["ACTIVE", "ACTIVE"]
    agent.reconcile_once(-1)  # a full resync: every port is up again, all ACTIVE already
    agent.reconcile_once(7)
    assert len(server.reports) == 1


def test_a_port_shown_active_that_fails_here_is_reported_as_an_error(
    agent: Agent, server: FakeServer
) -> None:
    server.ports = [_port("p-ok", 1, "ACTIVE"),
                    {**_port("p-lost", 2, "ACTIVE"), "pci_slot": "0000:99:00.0"}]  # fmt: skip
    assert agent.reconcile_once(-1) == -1  # an error: resync
    assert len(server.reports) == 1
    report = server.reports[0]
    assert (report["up"], report["down"]) == ([], [])
    assert [e["port_id"] for e in report["errors"]] == ["p-lost"]
    assert "no VF with PCI address 0000:99:00.0" in report["errors"][0]["message"]


def test_a_port_shown_in_error_that_now_works_is_reported_up(
    agent: Agent, server: FakeServer
) -> None:
    server.ports = [{**_port("p1", 1, "DOWN"), "pci_slot": "0000:99:00.0"}]
    agent.reconcile_once(-1)
    assert server.ports[0]["status"] == "ERROR"
    server.ports = [_port("p1", 1, "ERROR")]  # its binding now names a real VF
    agent.reconcile_once(-1)
    assert server.reports[-1] == {"up": ["p1"], "down": [], "errors": []}


def test_ports_taken_away_are_reported_down_whatever_the_others_show(
    agent: Agent, server: FakeServer
) -> None:
    server.ports = [_port("p1", 1, "DOWN"), _port("p2", 2, "DOWN")]
    agent.reconcile_once(-1)
    server.ports = [p for p in server.ports if p["port_id"] == "p2"]  # p1 unbound from the host
    assert server.ports[0]["status"] == "ACTIVE"
    agent.reconcile_once(7)
    assert server.reports[-1] == {"up": [], "down": ["p1"], "errors": []}


@pytest.mark.parametrize("status", [NO_STATUS, None], ids=["no-status-key", "status-null"])
def test_without_a_status_in_the_desired_state_every_port_up_is_reported(
    agent: Agent, server: FakeServer, status: object
) -> None:
    server.ports = [_port("p1", 1, status), _port("p2", 2, status)]
    assert agent.reconcile_once(-1) == 7
    assert server.reports == [{"up": ["p1", "p2"], "down": [], "errors": []}]


def test_ports_changed_by_several_calls_are_reported_at_once_each_with_its_request_id(
    agent: Agent, server: FakeServer
) -> None:
    first = "req-11111111-1111-1111-1111-111111111111"
    second = "req-22222222-2222-2222-2222-222222222222"
    server.ports = [{**_port("p1", 1, "DOWN"), "request_id": first},
                    {**_port("p2", 2, "DOWN"), "request_id": second}]  # fmt: skip
    agent.reconcile_once(-1)
    assert server.reports == [{"up": ["p1", "p2"], "down": [], "errors": [],
                               "request_ids": {"p1": first, "p2": second}}]  # fmt: skip
    assert server.headers == [None]  # no one call asked for the whole report
    server.ports.append({**_port("p3", 3, "DOWN"), "request_id": first})
    agent.reconcile_once(7)
    assert server.reports[-1]["up"] == ["p3"]
    assert server.headers[-1] == first  # one call's change: the report is that call's
