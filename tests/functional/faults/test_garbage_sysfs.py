"""The agent on a host whose sysfs holds garbage: non-numeric counts, binary junk in id
files, missing files, dangling links. It registers what it can read, says what it skipped,
and configures the VFs it can, on every pass."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.api.conftest import PASSWORD, LiveApi
from tests.functional.api.port_helpers import make_network, make_port
from vfplane.agent.inventory import scan_host
from vfplane.agent.loop import Agent
from vfplane.agent.reconcile import Reconciler
from vfplane.client import ApiClient, Credentials
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.vf_state_store import VfStateStore
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs
from vfplane.settings import AgentSettings, PciSettings

HOST = "compute-1"
PF0, PF1 = "0000:3b:00.0", "0000:3b:00.1"
GOOD_VF, JUNK_VENDOR_VF, NO_DEVICE_FILE_VF, JUNK_NUMA_VF = (
    "0000:3b:02.0", "0000:3b:02.1", "0000:3b:02.2", "0000:3b:02.3")  # fmt: skip


def _garbage(root: Path) -> None:
    devices = root / "sys" / "bus" / "pci" / "devices"
    (devices / PF1 / "sriov_numvfs").write_text("lots\n")
    (devices / JUNK_VENDOR_VF / "vendor").write_bytes(b"\xff\xfe\x00\x80junk")
    (devices / NO_DEVICE_FILE_VF / "device").unlink()
    (devices / JUNK_NUMA_VF / "numa_node").write_bytes(b"\x00\x01garbage")
    (devices / "0000:5e:00.0").symlink_to(root / "nowhere" / "0000:5e:00.0")
    (devices / PF0 / "virtfn9").symlink_to(root / "nowhere" / "virtfn9")
    (devices / "junk").write_bytes(b"\x00" * 8)


@pytest.fixture
def agent(live_api: LiveApi, tmp_path: Path) -> Iterator[Agent]:
    root = tmp_path / "root"
    lab = LabSysfs(root)
    lab.add_card(PROFILES["x710"], pfs=2, vfs=4)
    lab.write_topology(16, 32768, 1)
    _garbage(root)
    mappings = "physnet1:ens1f0,physnet2:ens1f1"
    settings = AgentSettings(host=HOST, sysfs_root=root, physical_device_mappings=mappings)
    pci = PciSettings(device_spec=[{"address": PF0, "physical_network": "physnet1"},
                                   {"address": PF1, "physical_network": "physnet2"}])  # fmt: skip
    client = ApiClient(live_api.url, Credentials("agent-c1", PASSWORD, "service"))
    reconciler = Reconciler(SimulatedNic(root), VfStateStore(tmp_path / "state"))
    made = Agent(HOST, client, reconciler, lambda: scan_host(settings, pci))
    yield made
    made.close()


def test_the_agent_skips_what_it_cannot_read_and_serves_the_rest(
    live_api: LiveApi, agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    api = live_api.api
    with caplog.at_level(logging.INFO, logger="vfplane.agent.loop"):
        assert agent._rescan()
    problems = "\n".join(r.getMessage() for r in caplog.records)
    for skipped in (JUNK_VENDOR_VF, NO_DEVICE_FILE_VF, "sriov_numvfs is 'lots'", "junk"):
        assert skipped in problems
    devices = api.get("admin", f"/v1/devices?host={HOST}").json()["devices"]
    registered = {d["address"] for d in devices}
    assert {PF0, PF1, GOOD_VF, JUNK_NUMA_VF} <= registered
    assert not {JUNK_VENDOR_VF, NO_DEVICE_FILE_VF, "0000:5e:00.0"} & registered
    agent.heartbeat()
    network_id = make_network(api, vlan=109)
    binding = {"binding:vnic_type": "direct", "binding:host_id": HOST,
               "binding:profile": {"pci_slot": GOOD_VF}}  # fmt: skip
    port = make_port(api, "admin", network_id, **binding)
    assert port["binding:vif_type"] == "hw_veb", port
    assert agent.reconcile_once(-1) >= 0  # a clean pass despite the garbage
    shown = api.get("admin", f"/network/v2.0/ports/{port['id']}").json()["port"]
    assert shown["status"] == "ACTIVE"
    assert not agent._rescan()  # the garbage is stable: nothing new to register
