"""The agent against a live API: registration, inventory changes, convergence after restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.api.conftest import PASSWORD, LiveApi
from tests.functional.api.port_helpers import make_network, make_port
from vfplane.agent.inventory import scan_host
from vfplane.agent.loop import Agent
from vfplane.agent.reconcile import Reconciler
from vfplane.client import ApiClient, Credentials
from vfplane.domain.pci import PciAddress
from vfplane.domain.vfstate import LinkState, VfConfig
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.vf_state_store import VfStateStore
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs
from vfplane.settings import AgentSettings, PciSettings

HOST = "compute-1"
PF = PciAddress.parse("0000:3b:00.0")


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    lab = LabSysfs(tmp_path / "root")
    lab.add_card(PROFILES["x710"], pfs=1, vfs=4)
    lab.write_topology(16, 32768, 2)
    return tmp_path / "root"


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    made: list[Agent] = []
    yield made
    for agent in made:
        agent.close()


def _agent(live: LiveApi, root: Path, state_dir: Path, made: list[Agent]) -> Agent:
    settings = AgentSettings(host=HOST, sysfs_root=root, physical_device_mappings="physnet1:ens1f0")
    pci = PciSettings(device_spec=[{"address": str(PF), "physical_network": "physnet1"}])
    client = ApiClient(live.url, Credentials("agent-c1", PASSWORD, "service"))
    reconciler = Reconciler(SimulatedNic(root), VfStateStore(state_dir))
    made.append(Agent(HOST, client, reconciler, lambda: scan_host(settings, pci)))
    return made[-1]


def _devices(live: LiveApi) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = live.api.get("admin", f"/v1/devices?host={HOST}").json()[
        "devices"
    ]
    return devices


def test_registration_and_inventory_changes(
    live_api: LiveApi, host_root: Path, tmp_path: Path, agents: list[Agent]
) -> None:
    agent = _agent(live_api, host_root, tmp_path / "state", agents)
    assert agent._rescan()
    host = live_api.api.get("admin", f"/v1/hosts/{HOST}").json()["host"]
    assert (host["vcpus"], host["memory_mb"], len(host["numa_topology"])) == (16, 32768, 2)
    assert host["configurations"]["device_mappings"] == {"physnet1": ["ens1f0"]}
    assert len(_devices(live_api)) == 5
    assert not agent._rescan()  # nothing changed, nothing sent
    nic = SimulatedNic(host_root)
    nic.set_numvfs(PF, 0)
    assert agent._rescan()
    assert [d["address"] for d in _devices(live_api)] == [str(PF)]
    nic.set_numvfs(PF, 2)
    assert agent._rescan()
    assert len(_devices(live_api)) == 3


def _bound_port(live: LiveApi, agent: Agent, vlan: int, slot: str) -> dict[str, Any]:
    """Register the agent's host, then bind a direct port on VLAN ``vlan`` to VF ``slot``."""
    agent._rescan()
    agent.heartbeat()
    network_id = make_network(live.api, vlan=vlan)
    binding = {"binding:vnic_type": "direct", "binding:host_id": HOST,
               "binding:profile": {"pci_slot": slot}}  # fmt: skip
    port: dict[str, Any] = make_port(live.api, "admin", network_id, **binding)
    return port


def test_configures_reports_and_converges_after_restart(
    live_api: LiveApi, host_root: Path, tmp_path: Path, agents: list[Agent]
) -> None:
    api = live_api.api
    agent = _agent(live_api, host_root, tmp_path / "state", agents)
    port = _bound_port(live_api, agent, 107, "0000:3b:02.1")
    assert port["binding:vif_type"] == "hw_veb"
    agent.reconcile_once(-1)
    target = VfConfig(mac=port["mac_address"], vlan=107, link_state=LinkState.ENABLE)
    assert SimulatedNic(host_root).read_vfs("ens1f0")[1] == target
    assert (
        api.get("admin", f"/network/v2.0/ports/{port['id']}").json()["port"]["status"] == "ACTIVE"
    )
    restarted = _agent(live_api, host_root, tmp_path / "state", agents)
    restarted._rescan()
    outcome = restarted._reconciler.run(
        api.get("admin", f"/v1/hosts/{HOST}/desired?timeout=0").json()["ports"],
        restarted._inventory.devices if restarted._inventory else (),
    )
    assert (outcome.applied, outcome.up) == (0, [port["id"]])  # nothing to redo, no drift


def test_ports_the_server_shows_active_are_not_reported_again(
    live_api: LiveApi, host_root: Path, tmp_path: Path, agents: list[Agent]
) -> None:
    api = live_api.api
    agent = _agent(live_api, host_root, tmp_path / "state", agents)
    port = _bound_port(live_api, agent, 108, "0000:3b:02.2")
    posted: list[str] = []
    call = agent._client.call

    def spy(method: str, path: str, **kwargs: Any) -> Any:
        if method == "POST":
            posted.append(path)
        return call(method, path, **kwargs)

    agent._client.call = spy  # type: ignore[method-assign]
    agent.reconcile_once(-1)
    assert f"/v1/hosts/{HOST}/ports/status" in posted  # the port came up: told once
    assert api.get("admin", f"/network/v2.0/ports/{port['id']}").json()["port"]["status"] == (
        "ACTIVE"
    )
    posted.clear()
    agent.reconcile_once(-1)
    assert f"/v1/hosts/{HOST}/ports/status" not in posted  # already ACTIVE: nothing to tell
