"""libvirt refuses the domain of a new server: the agent reports the error, the server ends in
ERROR with libvirt's message, its claims and port are given back (the VF restored), and both
the server and the agent go on serving the next boot."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.api.conftest import PASSWORD, LiveApi
from tests.functional.api.port_helpers import make_network, make_port
from tests.functional.faults.cloud import HOST, boot, port_left_alone, show_server
from vfplane.agent.domains import DomainReconciler, domain_name
from vfplane.agent.inventory import scan_host
from vfplane.agent.loop import Agent
from vfplane.agent.reconcile import Reconciler
from vfplane.client import ApiClient, Credentials
from vfplane.domain.vfstate import VfConfig
from vfplane.host.hypervisor import LibvirtHypervisor
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.vf_state_store import VfStateStore
from vfplane.lab.cluster import HostSpec, libvirt_host_xml
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs
from vfplane.settings import AgentSettings, PciSettings

PF = "0000:3b:00.0"
VF0 = "0000:3b:02.0"
ORIGINAL = VfConfig(mac="02:00:00:00:0b:00")


@pytest.fixture
def hypervisor(tmp_path: Path) -> Iterator[LibvirtHypervisor]:
    spec = HostSpec.model_validate({"name": HOST, "profile": "x710", "physnets": ["physnet1"]})
    node = tmp_path / "host.xml"
    node.write_text(libvirt_host_xml(spec), encoding="utf-8")
    with LibvirtHypervisor(f"test://{node}") as opened:
        yield opened


@pytest.fixture
def agent(
    live_api: LiveApi, tmp_path: Path, hypervisor: LibvirtHypervisor
) -> Iterator[tuple[Agent, Path]]:
    root = tmp_path / "root"
    LabSysfs(root).add_card(PROFILES["x710"], pfs=1, vfs=1)
    LabSysfs(root).write_topology(16, 32768, 1)
    SimulatedNic(root).write_vf("ens1f0", 0, ORIGINAL)
    settings = AgentSettings(host=HOST, sysfs_root=root, physical_device_mappings="physnet1:ens1f0")
    pci = PciSettings(device_spec=[{"address": PF, "physical_network": "physnet1"}])
    client = ApiClient(live_api.url, Credentials("agent-c1", PASSWORD, "service"))
    reconciler = Reconciler(SimulatedNic(root), VfStateStore(tmp_path / "state"))
    made = Agent(HOST, client, reconciler, lambda: scan_host(settings, pci),
                 domains=DomainReconciler(hypervisor))  # fmt: skip
    made._rescan()
    made.heartbeat()
    yield made, root
    made.close()


def _stale_domain(hypervisor: LibvirtHypervisor, name: str) -> None:
    """A defined, stopped domain of ``name`` with another uuid (left by an earlier install):
    libvirt refuses to define the server's domain over it."""
    xml = (
        f"<domain type='test'><name>{name}</name><uuid>{uuid.uuid4()}</uuid>"
        "<memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
    )
    hypervisor.define_and_start(xml)
    hypervisor.destroy(name)


def _boot_direct(live_api: LiveApi, vlan: int) -> dict[str, Any]:
    network_id = make_network(live_api.api, vlan=vlan)
    port = make_port(live_api.api, "admin", network_id, **{"binding:vnic_type": "direct"})
    server = boot(live_api.api, [{"port": port["id"]}])
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("BUILD", HOST)
    return {"server": server, "port": port}


def test_a_domain_libvirt_refuses_fails_the_server_and_gives_everything_back(
    live_api: LiveApi, agent: tuple[Agent, Path], hypervisor: LibvirtHypervisor
) -> None:
    api, (host_agent, root) = live_api.api, agent
    booted = _boot_direct(live_api, 106)
    server_id, port_id = booted["server"]["id"], booted["port"]["id"]
    _stale_domain(hypervisor, domain_name(server_id))
    host_agent.reconcile_once(-1)  # configures the VF, then libvirt refuses the domain
    assert SimulatedNic(root).read_vfs("ens1f0")[0].vlan == 106
    shown = show_server(api, server_id)
    assert shown["status"] == "ERROR"
    assert shown["fault"]["message"] == "The domain could not start"
    assert "already exists with uuid" in shown["fault"]["details"]  # libvirt's own words
    devices = api.get("admin", f"/v1/devices?host={HOST}").json()["devices"]
    assert {d["status"] for d in devices} == {"available"}
    assert port_left_alone(api, port_id)
    host_agent.reconcile_once(-1)  # the next pass gives the VF its original config back
    assert SimulatedNic(root).read_vfs("ens1f0")[0] == ORIGINAL
    assert hypervisor.list_domains() == []  # the stale domain of a failed server is removed
    again = _boot_direct(live_api, 107)  # both keep serving: the next boot goes ACTIVE
    host_agent.reconcile_once(-1)
    assert show_server(api, again["server"]["id"])["status"] == "ACTIVE"
    assert SimulatedNic(root).read_vfs("ens1f0")[0].vlan == 107
