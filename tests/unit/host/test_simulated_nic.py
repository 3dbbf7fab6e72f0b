"""The simulated NIC obeys the kernel's rules and keeps its VF state across processes."""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import pytest

from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.domain.vfstate import LinkState, VfConfig
from vfplane.errors import (
    DeviceBusy,
    DeviceNotFound,
    NicError,
    NotSupported,
    OutOfRange,
)
from vfplane.host.nic import BatchWriter, NicDriver
from vfplane.host.simulated_nic import NEW_VF, SimulatedNic
from vfplane.host.sysfs import SysfsReader
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs

PORT = VfConfig(
    mac="fa:16:3e:00:00:01",
    vlan=100,
    qos=0,
    spoofchk=False,
    trust=True,
    link_state=LinkState.DISABLE,
    min_tx_rate=1,
    max_tx_rate=3,
)


@pytest.fixture
def pf(lab: LabSysfs) -> PciDevice:
    """An X710 PF with 4 VFs, the first bound to vfio-pci."""
    devices = lab.add_card(PROFILES["x710"], pfs=1, vfs=4, vfio_vfs=1)
    return next(d for d in devices if d.dev_type is DeviceType.PF)


@pytest.fixture
def nic(lab: LabSysfs) -> SimulatedNic:
    return SimulatedNic(lab.root)


def ifname(device: PciDevice) -> str:
    assert device.ifname is not None
    return device.ifname


def test_is_a_nic_driver(nic: SimulatedNic, pf: PciDevice) -> None:
    driver: NicDriver = nic
    assert driver.numvfs(pf.address) == 4


def test_new_vfs_start_like_real_ones(nic: SimulatedNic, pf: PciDevice) -> None:
    assert nic.read_vfs(ifname(pf)) == dict.fromkeys(range(4), NEW_VF)
    assert VfConfig("00:00:00:00:00:00", 0, 0, True, False, LinkState.AUTO, 0, 0) == NEW_VF


def test_written_config_reads_back_and_other_vfs_are_untouched(
    nic: SimulatedNic, pf: PciDevice
) -> None:
    nic.write_vf(ifname(pf), 2, PORT)
    assert nic.read_vfs(ifname(pf)) == {0: NEW_VF, 1: NEW_VF, 2: PORT, 3: NEW_VF}


def test_state_outlives_the_nic_object(lab: LabSysfs, pf: PciDevice) -> None:
    SimulatedNic(lab.root).write_vf(ifname(pf), 1, PORT)
    assert SimulatedNic(lab.root).read_vfs(ifname(pf))[1] == PORT
    assert (lab.root / "simulated-nic" / "state.json").is_file()
    assert not list((lab.root / "simulated-nic").glob("*.tmp"))


def test_vfio_vf_has_no_netdev_but_is_configured_through_its_pf(
    lab: LabSysfs, nic: SimulatedNic, pf: PciDevice
) -> None:
    vf0 = next(d for d in SysfsReader(lab.root).scan().devices if d.vf_index == 0)
    assert (vf0.driver, vf0.ifname) == ("vfio-pci", None)
    nic.write_vf(ifname(pf), 0, PORT)
    assert nic.read_vfs(ifname(pf))[0] == PORT


def test_write_to_unknown_pf_is_not_found(nic: SimulatedNic, pf: PciDevice) -> None:
    with pytest.raises(DeviceNotFound, match="ens9f9") as info:
        nic.write_vf("ens9f9", 0, PORT)
    assert info.value.errno == errno.ENODEV
    assert isinstance(info.value.__cause__, OSError)


def test_read_of_unknown_pf_is_not_found(nic: SimulatedNic, pf: PciDevice) -> None:
    with pytest.raises(DeviceNotFound):
        nic.read_vfs("../ens1f0")


@pytest.mark.parametrize("index", [4, 63, -1])
def test_write_beyond_numvfs_is_out_of_range(nic: SimulatedNic, pf: PciDevice, index: int) -> None:
    with pytest.raises(OutOfRange, match=f"no VF {index}"):
        nic.write_vf(ifname(pf), index, PORT)


def test_vf_netdev_has_no_vfs_and_refuses_vf_writes(
    lab: LabSysfs, nic: SimulatedNic, pf: PciDevice
) -> None:
    vf1 = next(d for d in SysfsReader(lab.root).scan().devices if d.vf_index == 1)
    assert nic.read_vfs(ifname(vf1)) == {}
    with pytest.raises(NotSupported):
        nic.write_vf(ifname(vf1), 0, PORT)


# --- sriov_numvfs: the kernel's rules ---


def test_same_numvfs_is_a_no_op_that_keeps_vf_state(nic: SimulatedNic, pf: PciDevice) -> None:
    nic.write_vf(ifname(pf), 1, PORT)
    nic.set_numvfs(pf.address, 4)
    assert nic.numvfs(pf.address) == 4
    assert nic.read_vfs(ifname(pf))[1] == PORT


def test_more_than_totalvfs_is_out_of_range(nic: SimulatedNic, pf: PciDevice) -> None:
    nic.set_numvfs(pf.address, 0)
    with pytest.raises(OutOfRange) as info:
        nic.set_numvfs(pf.address, 65)
    assert info.value.errno == errno.ERANGE
    assert isinstance(info.value.__cause__, OSError)
    assert nic.numvfs(pf.address) == 0


def test_new_count_while_vfs_exist_is_busy(nic: SimulatedNic, pf: PciDevice) -> None:
    with pytest.raises(DeviceBusy, match="write 0 first"):
        nic.set_numvfs(pf.address, 8)
    assert nic.numvfs(pf.address) == 4


def test_zero_removes_the_vfs(lab: LabSysfs, nic: SimulatedNic, pf: PciDevice) -> None:
    nic.set_numvfs(pf.address, 0)
    assert nic.read_vfs(ifname(pf)) == {}
    scan = SysfsReader(lab.root).scan()
    assert [d for d in scan.devices if d.dev_type is DeviceType.VF] == []
    assert scan.by_address()[pf.address].sriov_numvfs == 0


def test_recreated_vfs_are_new_and_appear_in_sysfs(
    lab: LabSysfs, nic: SimulatedNic, pf: PciDevice
) -> None:
    nic.write_vf(ifname(pf), 1, PORT)
    nic.set_numvfs(pf.address, 0)
    nic.set_numvfs(pf.address, 6, vfio_vfs=2)
    assert nic.read_vfs(ifname(pf)) == dict.fromkeys(range(6), NEW_VF)
    vfs = [d for d in SysfsReader(lab.root).scan().devices if d.dev_type is DeviceType.VF]
    assert sorted(d.vf_index or 0 for d in vfs) == list(range(6))
    assert sorted(d.vf_index or 0 for d in vfs if d.ifname is None) == [0, 1]


def test_pf_without_driver_cannot_change_numvfs(
    lab: LabSysfs, nic: SimulatedNic, pf: PciDevice
) -> None:
    (lab.root / "sys" / "bus" / "pci" / "devices" / str(pf.address) / "driver").unlink()
    nic.set_numvfs(pf.address, 4)  # the same value succeeds before the driver check
    with pytest.raises(DeviceNotFound, match="no driver") as info:
        nic.set_numvfs(pf.address, 0)
    assert info.value.errno == errno.ENOENT


def test_numvfs_of_unknown_device_is_not_found(nic: SimulatedNic, pf: PciDevice) -> None:
    missing = PciAddress.parse("0000:99:00.0")
    with pytest.raises(DeviceNotFound):
        nic.set_numvfs(missing, 1)
    with pytest.raises(DeviceNotFound):
        nic.numvfs(missing)


def test_negative_count_is_invalid(nic: SimulatedNic, pf: PciDevice) -> None:
    with pytest.raises(NotSupported) as info:
        nic.set_numvfs(pf.address, -1)
    assert info.value.errno == errno.EINVAL


# --- injected failures (test aid) ---


def test_injected_failure_hits_the_next_write_only(nic: SimulatedNic, pf: PciDevice) -> None:
    nic.fail_next(ifname(pf), errno.EOPNOTSUPP)
    with pytest.raises(NotSupported, match="EOPNOTSUPP"):
        nic.write_vf(ifname(pf), 1, PORT)
    assert nic.read_vfs(ifname(pf))[1] == NEW_VF
    nic.write_vf(ifname(pf), 1, PORT)
    assert nic.read_vfs(ifname(pf))[1] == PORT


def test_injected_field_failure_applies_what_the_kernel_sets_before_it(
    nic: SimulatedNic, pf: PciDevice
) -> None:
    nic.fail_next(ifname(pf), errno.EOPNOTSUPP, field="link_state")
    with pytest.raises(NotSupported, match="link_state"):
        nic.write_vf(ifname(pf), 1, PORT)
    partial = nic.read_vfs(ifname(pf))[1]
    assert (partial.mac, partial.vlan, partial.max_tx_rate, partial.spoofchk) == (
        PORT.mac,
        PORT.vlan,
        PORT.max_tx_rate,
        PORT.spoofchk,
    )
    assert (partial.link_state, partial.trust) == (NEW_VF.link_state, NEW_VF.trust)


def test_injected_failure_hits_reads_and_numvfs_too(nic: SimulatedNic, pf: PciDevice) -> None:
    nic.fail_next(ifname(pf), errno.EBUSY)
    with pytest.raises(DeviceBusy):
        nic.read_vfs(ifname(pf))
    nic.fail_next(ifname(pf), errno.EPERM)
    with pytest.raises(NicError):
        nic.set_numvfs(pf.address, 0)
    assert nic.numvfs(pf.address) == 4


def test_injected_failure_needs_a_real_field(nic: SimulatedNic) -> None:
    with pytest.raises(ValueError, match="colour"):
        nic.fail_next("ens1f0", errno.EINVAL, field="colour")


# --- shared state ---


def test_corrupt_state_is_a_nic_error(lab: LabSysfs, nic: SimulatedNic, pf: PciDevice) -> None:
    nic.write_vf(ifname(pf), 1, PORT)
    (lab.root / "simulated-nic" / "state.json").write_text("{not json")
    with pytest.raises(NicError, match="unreadable"):
        nic.read_vfs(ifname(pf))


_WRITER = """
import sys
from pathlib import Path
from vfplane.domain.vfstate import VfConfig
from vfplane.host.simulated_nic import SimulatedNic
nic = SimulatedNic(Path(sys.argv[1]))
index = int(sys.argv[3])
for vlan in range(1, 101):
    nic.write_vf(sys.argv[2], index, VfConfig(mac=f"02:00:00:00:00:0{index}", vlan=vlan))
"""


def test_concurrent_processes_do_not_lose_writes(lab: LabSysfs, pf: PciDevice) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(lab.root), ifname(pf), str(i)])
        for i in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    vfs = SimulatedNic(lab.root).read_vfs(ifname(pf))
    assert {i: (vf.mac, vf.vlan) for i, vf in vfs.items()} == {
        i: (f"02:00:00:00:00:0{i}", 100) for i in range(4)
    }
    state = json.loads((lab.root / "simulated-nic" / "state.json").read_text())
    assert sorted(state["pfs"][str(pf.address)]) == ["0", "1", "2", "3"]


OTHER = VfConfig(mac="fa:16:3e:00:00:02", vlan=200, qos=0, spoofchk=True, trust=False,
                 link_state=LinkState.DISABLE, min_tx_rate=0, max_tx_rate=0)  # fmt: skip


def test_a_batch_reports_the_vf_it_could_not_write_and_writes_the_others(
    nic: SimulatedNic, pf: PciDevice, lab: LabSysfs
) -> None:
    assert isinstance(nic, BatchWriter)
    failures = nic.write_vfs(ifname(pf), {1: PORT, 9: PORT, 3: OTHER})
    assert list(failures) == [9]
    assert isinstance(failures[9], OutOfRange)
    expected = {0: NEW_VF, 1: PORT, 2: NEW_VF, 3: OTHER}
    assert nic.read_vfs(ifname(pf)) == expected
    assert SimulatedNic(lab.root).read_vfs(ifname(pf)) == expected  # what another process reads


@pytest.mark.parametrize("batch", [{}, {0: PORT}])
def test_small_batches(nic: SimulatedNic, pf: PciDevice, batch: dict[int, VfConfig]) -> None:
    assert nic.write_vfs(ifname(pf), batch) == {}
    assert nic.read_vfs(ifname(pf))[0] == batch.get(0, NEW_VF)
