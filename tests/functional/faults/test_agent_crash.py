"""The agent dies between saving the originals of a batch and finishing its writes (and,
in the last test, is SIGKILLed there as a process).

The crash is made deterministic by a NIC that writes the first VF of a batch and then
raises a ``BaseException`` nothing in the agent catches, as the process dying there
would: the originals are durable, one VF is configured, the others are not. A fresh
agent (new store, new NIC object, same state directory and host) must converge: every
VF ends at its port's config, or back at its original when the port went away meanwhile,
and no saved original is the half-configured state.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from vfplane.agent.inventory import scan_host
from vfplane.agent.reconcile import Reconciler
from vfplane.domain.pci import PciAddress, PciDevice
from vfplane.domain.vfstate import LinkState, VfConfig
from vfplane.errors import NicError
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.vf_state_store import VfStateStore
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs
from vfplane.settings import AgentSettings, PciSettings

PF = PciAddress.parse("0000:3b:00.0")
PF_IFNAME = "ens1f0"
VFS = ["0000:3b:02.0", "0000:3b:02.1", "0000:3b:02.2"]
ORIGINALS = {i: VfConfig(mac=f"02:00:00:00:0a:0{i}", vlan=0, spoofchk=False) for i in range(3)}


class ProcessDied(BaseException):
    """The agent process ends here (a BaseException: nothing in the agent catches it)."""


class DyingNic(SimulatedNic):
    """Writes the first VF of the first batch, then the process dies."""

    def write_vfs(self, pf_ifname: str, configs: Mapping[int, VfConfig]) -> dict[int, NicError]:
        first = min(configs)
        super().write_vfs(pf_ifname, {first: configs[first]})
        raise ProcessDied(f"killed after writing VF {first} of {pf_ifname}")


def _desired(n: int) -> dict[str, Any]:
    return {"port_id": f"port-{n}", "pci_slot": VFS[n], "mac_address": f"fa:16:3e:00:00:0{n}",
            "vlan": 120 + n, "admin_state_up": True, "port_security_enabled": True}  # fmt: skip


def _target(n: int) -> VfConfig:
    return VfConfig(mac=f"fa:16:3e:00:00:0{n}", vlan=120 + n, link_state=LinkState.ENABLE)


@pytest.fixture
def host(tmp_path: Path) -> tuple[Path, list[PciDevice]]:
    lab = LabSysfs(tmp_path / "root")
    lab.add_card(PROFILES["x710"], pfs=1, vfs=4)
    lab.write_topology(16, 32768, 2)
    root = tmp_path / "root"
    nic = SimulatedNic(root)
    for index, config in ORIGINALS.items():
        nic.write_vf(PF_IFNAME, index, config)  # what the host had before the agent came
    settings = AgentSettings(host="compute-1", sysfs_root=root,
                             physical_device_mappings=f"physnet1:{PF_IFNAME}")  # fmt: skip
    pci = PciSettings(device_spec=[{"address": str(PF), "physical_network": "physnet1"}])
    return root, list(scan_host(settings, pci).devices)


def _crash(root: Path, state: Path, devices: list[PciDevice]) -> None:
    """Run a pass that dies mid-batch; checks the crash point is the one meant."""
    desired = [_desired(n) for n in range(3)]
    with pytest.raises(ProcessDied):
        Reconciler(DyingNic(root), VfStateStore(state)).run(desired, devices)
    seen = SimulatedNic(root).read_vfs(PF_IFNAME)
    assert seen[0] == _target(0)  # half-configured: one VF written ...
    assert (seen[1], seen[2]) == (ORIGINALS[1], ORIGINALS[2])  # ... two not
    saved = VfStateStore(state).load_all()
    assert {str(a): s.original for a, s in saved.items()} == {
        VFS[n]: ORIGINALS[n] for n in range(3)
    }  # every original was durable before the first write


def test_a_restarted_agent_finishes_the_batch_the_dead_one_began(
    host: tuple[Path, list[PciDevice]], tmp_path: Path
) -> None:
    root, devices = host
    state = tmp_path / "state"
    _crash(root, state, devices)
    restarted = Reconciler(SimulatedNic(root), VfStateStore(state))
    outcome = restarted.run([_desired(n) for n in range(3)], devices)
    assert outcome.errors == {}
    assert sorted(outcome.up) == ["port-0", "port-1", "port-2"]
    assert outcome.applied == 2  # VF 0 was right already: not written again
    seen = SimulatedNic(root).read_vfs(PF_IFNAME)
    assert [seen[n] for n in range(3)] == [_target(n) for n in range(3)]
    saved = VfStateStore(state).load_all()  # the originals, not the half-configured state
    assert {str(a): s.original for a, s in saved.items()} == {
        VFS[n]: ORIGINALS[n] for n in range(3)
    }


def test_ports_unbound_while_the_agent_was_dead_get_their_vfs_restored(
    host: tuple[Path, list[PciDevice]], tmp_path: Path
) -> None:
    root, devices = host
    state = tmp_path / "state"
    _crash(root, state, devices)
    still_wanted = [_desired(2)]  # ports 0 and 1 were unbound meanwhile
    outcome = Reconciler(SimulatedNic(root), VfStateStore(state)).run(still_wanted, devices)
    assert outcome.errors == {}
    assert (sorted(outcome.down), outcome.up) == (["port-0", "port-1"], ["port-2"])
    seen = SimulatedNic(root).read_vfs(PF_IFNAME)
    assert [seen[n] for n in range(3)] == [ORIGINALS[0], ORIGINALS[1], _target(2)]
    saved = VfStateStore(state).load_all()  # restored originals are forgotten
    assert {str(a): s.original for a, s in saved.items()} == {VFS[2]: ORIGINALS[2]}
    again = Reconciler(SimulatedNic(root), VfStateStore(state)).run(still_wanted, devices)
    assert (again.applied, again.up, again.down, again.errors) == (0, ["port-2"], [], {})


_PASS = """
import json, sys
from pathlib import Path
from vfplane.agent.inventory import scan_host
from vfplane.agent.reconcile import Reconciler
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.vf_state_store import VfStateStore
from vfplane.settings import AgentSettings, PciSettings
root, state, pf, ifname = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
settings = AgentSettings(host="compute-1", sysfs_root=root,
                         physical_device_mappings=f"physnet1:{ifname}")
pci = PciSettings(device_spec=[{"address": pf, "physical_network": "physnet1"}])
devices = list(scan_host(settings, pci).devices)
Reconciler(SimulatedNic(root), VfStateStore(state)).run(json.loads(sys.argv[5]), devices)
"""


def test_an_agent_process_killed_between_saving_and_writing_converges_after_restart(
    host: tuple[Path, list[PciDevice]], tmp_path: Path
) -> None:
    """A real SIGKILL at the crash point: the test holds a shared lock on the simulated
    NIC, so the agent reads the VFs and saves their originals, then blocks at its first
    write, where it is killed."""
    root, devices = host
    state = tmp_path / "state"
    desired = [_desired(n) for n in range(3)]
    args = [str(root), str(state), str(PF), PF_IFNAME, json.dumps(desired)]
    with (root / "simulated-nic" / "state.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)  # readers pass, the writer waits
        agent = subprocess.Popen([sys.executable, "-c", _PASS, *args])
        deadline = time.monotonic() + 30
        while len(VfStateStore(state).load_all()) < 3 and agent.poll() is None:
            assert time.monotonic() < deadline, "the agent never saved the originals"
            time.sleep(0.02)
        time.sleep(0.2)  # the directory sync, then the write that waits for the lock
        agent.kill()
        agent.wait(timeout=10)
    assert agent.returncode == -9
    seen = SimulatedNic(root).read_vfs(PF_IFNAME)
    assert [seen[n] for n in range(3)] == [ORIGINALS[n] for n in range(3)]  # nothing written
    outcome = Reconciler(SimulatedNic(root), VfStateStore(state)).run(desired, devices)
    assert (outcome.errors, sorted(outcome.up)) == ({}, ["port-0", "port-1", "port-2"])
    seen = SimulatedNic(root).read_vfs(PF_IFNAME)
    assert [seen[n] for n in range(3)] == [_target(n) for n in range(3)]
    saved = VfStateStore(state).load_all()
    assert {str(a): s.original for a, s in saved.items()} == {
        VFS[n]: ORIGINALS[n] for n in range(3)
    }
    released = Reconciler(SimulatedNic(root), VfStateStore(state)).run([], devices)
    assert released.errors == {}
    seen = SimulatedNic(root).read_vfs(PF_IFNAME)
    assert [seen[n] for n in range(3)] == [ORIGINALS[n] for n in range(3)]
