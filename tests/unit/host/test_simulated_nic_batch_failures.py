"""``SimulatedNic.write_vfs``: a failure part-way through a batch costs that VF only, and
the state file another process reads stays whole."""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import pytest

from vfplane.domain.pci import DeviceType, PciDevice
from vfplane.domain.vfstate import LinkState, VfConfig
from vfplane.errors import DeviceBusy, DeviceNotFound, NotSupported, OutOfRange
from vfplane.host.simulated_nic import NEW_VF, SimulatedNic
from vfplane.host.sysfs import SysfsReader
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs

A = VfConfig(mac="fa:16:3e:00:00:0a", vlan=100, qos=0, spoofchk=False, trust=True,
             link_state=LinkState.DISABLE, min_tx_rate=1, max_tx_rate=3)  # fmt: skip
B = VfConfig(mac="fa:16:3e:00:00:0b", vlan=200, spoofchk=True, link_state=LinkState.ENABLE)
C = VfConfig(mac="fa:16:3e:00:00:0c", vlan=300, qos=2, trust=True, max_tx_rate=10)


@pytest.fixture
def pfs(lab: LabSysfs) -> list[PciDevice]:
    """Two X710 PFs (ens1f0, ens1f1) with 4 VFs each."""
    devices = lab.add_card(PROFILES["x710"], pfs=2, vfs=4)
    return [d for d in devices if d.dev_type is DeviceType.PF]


@pytest.fixture
def nic(lab: LabSysfs, pfs: list[PciDevice]) -> SimulatedNic:
    return SimulatedNic(lab.root)


def _state_text(lab: LabSysfs) -> str:
    return (lab.root / "simulated-nic" / "state.json").read_text()


def _assert_whole_file(lab: LabSysfs, expected: dict[str, dict[int, VfConfig]]) -> None:
    """A fresh NIC object (another process) reads ``expected``; the file is valid JSON
    with one line per stored VF and no temporary file is left beside it."""
    fresh = SimulatedNic(lab.root)
    for pf_ifname, vfs in expected.items():
        assert fresh.read_vfs(pf_ifname) == vfs
    text = _state_text(lab)
    state = json.loads(text)
    stored = [(pf, i) for pf, vfs in state["pfs"].items() for i in vfs]
    vf_lines = [line for line in text.splitlines() if '"mac":' in line]
    assert len(vf_lines) == len(stored)  # one VF per line, none split or merged
    assert text.endswith("}\n")
    assert not list((lab.root / "simulated-nic").glob("*.tmp"))


@pytest.mark.parametrize("bad", [4, -1, 63])
def test_an_out_of_range_vf_in_the_middle_fails_alone(
    nic: SimulatedNic, lab: LabSysfs, bad: int
) -> None:
    failures = nic.write_vfs("ens1f0", {0: A, bad: B, 3: C})
    assert list(failures) == [bad]
    assert isinstance(failures[bad], OutOfRange)
    assert failures[bad].errno == errno.ERANGE
    assert f"set VF {bad} of ens1f0" in str(failures[bad])
    expected = {0: A, 1: NEW_VF, 2: NEW_VF, 3: C}  # before and after the failure: written
    assert nic.read_vfs("ens1f0") == expected
    _assert_whole_file(lab, {"ens1f0": expected, "ens1f1": dict.fromkeys(range(4), NEW_VF)})


def test_several_failures_in_one_batch_are_each_reported(nic: SimulatedNic, lab: LabSysfs) -> None:
    failures = nic.write_vfs("ens1f0", {9: A, 1: B, 5: C, 2: A})
    assert sorted(failures) == [5, 9]
    assert all(isinstance(exc, OutOfRange) for exc in failures.values())
    _assert_whole_file(lab, {"ens1f0": {0: NEW_VF, 1: B, 2: A, 3: NEW_VF}})


def test_a_batch_that_fails_entirely_leaves_the_state_as_it_was(
    nic: SimulatedNic, lab: LabSysfs
) -> None:
    nic.write_vfs("ens1f0", {1: A})
    before = _state_text(lab)
    failures = nic.write_vfs("ens1f0", {7: B, 8: C})
    assert sorted(failures) == [7, 8]
    assert json.loads(_state_text(lab)) == json.loads(before)
    _assert_whole_file(lab, {"ens1f0": {0: NEW_VF, 1: A, 2: NEW_VF, 3: NEW_VF}})


def test_an_injected_failure_hits_the_first_vf_of_the_batch_only(
    nic: SimulatedNic, lab: LabSysfs
) -> None:
    nic.fail_next("ens1f0", errno.EBUSY)
    failures = nic.write_vfs("ens1f0", {2: A, 0: B, 3: C})
    assert list(failures) == [2]
    assert isinstance(failures[2], DeviceBusy)
    expected = {0: B, 1: NEW_VF, 2: NEW_VF, 3: C}
    _assert_whole_file(lab, {"ens1f0": expected})
    assert nic.write_vfs("ens1f0", {2: A}) == {}  # the failure was used up
    assert nic.read_vfs("ens1f0")[2] == A


def test_an_injected_field_failure_half_writes_the_first_vf_and_the_rest_fully(
    nic: SimulatedNic, lab: LabSysfs
) -> None:
    nic.fail_next("ens1f0", errno.EOPNOTSUPP, field="link_state")
    failures = nic.write_vfs("ens1f0", {1: A, 2: B})
    assert list(failures) == [1]
    assert isinstance(failures[1], NotSupported)
    assert "link_state" in str(failures[1])
    half = VfConfig(mac=A.mac, vlan=A.vlan, qos=A.qos, spoofchk=A.spoofchk,
                    min_tx_rate=A.min_tx_rate, max_tx_rate=A.max_tx_rate)  # fmt: skip
    assert (A.link_state, A.trust) != (half.link_state, half.trust)  # the kernel stopped there
    _assert_whole_file(lab, {"ens1f0": {0: NEW_VF, 1: half, 2: B, 3: NEW_VF}})


def test_a_batch_on_one_pf_leaves_the_other_pf_alone(nic: SimulatedNic, lab: LabSysfs) -> None:
    nic.write_vfs("ens1f1", {0: C, 3: C})
    assert nic.write_vfs("ens1f0", {0: A, 3: B}) == {}
    _assert_whole_file(lab, {"ens1f0": {0: A, 1: NEW_VF, 2: NEW_VF, 3: B},
                             "ens1f1": {0: C, 1: NEW_VF, 2: NEW_VF, 3: C}})  # fmt: skip


def test_an_unknown_pf_raises_and_writes_nothing(nic: SimulatedNic, lab: LabSysfs) -> None:
    nic.write_vfs("ens1f0", {1: A})
    before = _state_text(lab)
    with pytest.raises(DeviceNotFound, match="ens9f9"):
        nic.write_vfs("ens9f9", {0: B, 1: C})
    assert _state_text(lab) == before


def test_a_vf_netdev_is_no_pf_and_the_batch_raises(nic: SimulatedNic, lab: LabSysfs) -> None:
    vf = next(d for d in SysfsReader(lab.root).scan().devices if d.vf_index == 1)
    assert vf.ifname is not None
    nic.write_vfs("ens1f0", {1: A})
    before = _state_text(lab)
    with pytest.raises(NotSupported, match="not an SR-IOV PF"):
        nic.write_vfs(vf.ifname, {0: B})
    assert _state_text(lab) == before


def test_the_file_lists_vfs_by_numeric_index(lab: LabSysfs) -> None:
    lab.add_card(PROFILES["x710"], pfs=1, vfs=12)
    nic = SimulatedNic(lab.root)
    assert nic.write_vfs("ens1f0", {11: A, 2: B, 10: C, 0: A}) == {}
    lines = [line for line in _state_text(lab).splitlines() if '"mac":' in line]
    assert [line.split(":")[0].strip() for line in lines] == ['"0"', '"2"', '"10"', '"11"']
    expected = dict.fromkeys(range(12), NEW_VF) | {11: A, 2: B, 10: C, 0: A}
    _assert_whole_file(lab, {"ens1f0": expected})


_BATCH_WRITER = """
import sys
from pathlib import Path
from vfplane.domain.vfstate import VfConfig
from vfplane.host.simulated_nic import SimulatedNic
nic = SimulatedNic(Path(sys.argv[1]))
mine = [int(i) for i in sys.argv[2].split(",")]
for vlan in range(1, 51):
    batch = {i: VfConfig(mac=f"02:00:00:00:00:0{i}", vlan=vlan) for i in mine}
    assert nic.write_vfs("ens1f0", batch) == {}
"""


def test_concurrent_batches_do_not_lose_each_others_vfs(lab: LabSysfs) -> None:
    lab.add_card(PROFILES["x710"], pfs=1, vfs=4)
    writers = [
        subprocess.Popen([sys.executable, "-c", _BATCH_WRITER, str(lab.root), vfs])
        for vfs in ("0,2", "1,3")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    expected = {i: VfConfig(mac=f"02:00:00:00:00:0{i}", vlan=50) for i in range(4)}
    _assert_whole_file(lab, {"ens1f0": expected})
