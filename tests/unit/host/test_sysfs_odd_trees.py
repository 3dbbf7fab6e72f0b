"""The sysfs reader copes with what real hosts do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vfplane.domain.pci import DeviceType, PciAddress
from vfplane.errors import SysfsError
from vfplane.host.sysfs import PendingPf, SysfsReader
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs

PF0 = PciAddress.parse("0000:3b:00.0")
VF0 = PciAddress.parse("0000:3b:02.0")
VF1 = PciAddress.parse("0000:3b:02.1")


def _x710(lab: LabSysfs, vfs: int = 2, vfio_vfs: int = 0) -> Path:
    lab.add_card(PROFILES["x710"], pfs=1, vfs=vfs, vfio_vfs=vfio_vfs)
    return lab.root / "sys" / "bus" / "pci" / "devices"


def test_vfio_vfs_have_no_netdev(lab: LabSysfs) -> None:
    _x710(lab, vfs=2, vfio_vfs=2)
    devices = SysfsReader(lab.root).scan().by_address()
    for vf in (devices[VF0], devices[VF1]):
        assert vf.driver == "vfio-pci"
        assert vf.ifname is None
        assert vf.mac is None
        assert vf.pf_ifname == "ens1f0"
    assert devices[VF1].vf_index == 1


def test_pf_with_zero_vfs(lab: LabSysfs) -> None:
    _x710(lab, vfs=0)
    scan = SysfsReader(lab.root).scan()
    (pf,) = scan.devices
    assert pf.dev_type is DeviceType.PF
    assert (pf.sriov_numvfs, pf.sriov_totalvfs) == (0, 64)
    assert scan.pending == ()


def test_numvfs_ahead_of_virtfn_links_is_pending(lab: LabSysfs) -> None:
    devices_dir = _x710(lab, vfs=4)
    vf_dir = (devices_dir / "0000:3b:02.3").resolve()
    shutil.rmtree(vf_dir)
    (devices_dir / "0000:3b:02.3").unlink()
    (devices_dir / "0000:3b:00.0" / "virtfn3").unlink()
    scan = SysfsReader(lab.root).scan()
    assert scan.pending == (PendingPf(PF0, numvfs=4, present=3),)
    assert any("VFs still appearing" in p for p in scan.problems)
    assert sum(d.dev_type is DeviceType.VF for d in scan.devices) == 3


def test_device_vanished_between_listing_and_reading(lab: LabSysfs) -> None:
    devices_dir = _x710(lab, vfs=2)
    shutil.rmtree((devices_dir / "0000:3b:02.1").resolve())  # the link now dangles
    scan = SysfsReader(lab.root).scan()
    assert VF1 not in scan.by_address()
    assert VF0 in scan.by_address()
    assert "0000:3b:02.1: vanished during the scan; skipped" in scan.problems


def test_unreadable_optional_file_is_unknown(lab: LabSysfs) -> None:
    devices_dir = _x710(lab, vfs=1)
    numa = devices_dir / "0000:3b:02.0" / "numa_node"
    numa.unlink()
    numa.mkdir()  # reading it fails with EISDIR, as an unreadable file would
    scan = SysfsReader(lab.root).scan()
    assert scan.by_address()[VF0].numa_node is None
    assert any("cannot read numa_node" in p for p in scan.problems)


def test_unreadable_identity_file_skips_the_device(lab: LabSysfs) -> None:
    devices_dir = _x710(lab, vfs=1)
    vendor = devices_dir / "0000:3b:02.0" / "vendor"
    vendor.unlink()
    vendor.mkdir()
    scan = SysfsReader(lab.root).scan()
    assert VF0 not in scan.by_address()
    assert any("cannot read vendor" in p for p in scan.problems)


def test_garbage_numbers_are_reported_not_raised(lab: LabSysfs) -> None:
    devices_dir = _x710(lab, vfs=1)
    (devices_dir / "0000:3b:00.0" / "sriov_numvfs").write_text("lots\n")
    (devices_dir / "0000:3b:02.0" / "numa_node").write_text("\x00\x01garbage")
    scan = SysfsReader(lab.root).scan()
    pf = scan.by_address()[PF0]
    assert pf.sriov_numvfs is None
    assert scan.by_address()[VF0].numa_node is None
    assert any("sriov_numvfs is 'lots'" in p for p in scan.problems)


def test_vf_whose_pf_has_no_netdev(lab: LabSysfs) -> None:
    devices_dir = _x710(lab, vfs=2)
    shutil.rmtree(devices_dir / "0000:3b:00.0" / "net")
    (lab.root / "sys/class/net/ens1f0").unlink()
    devices = SysfsReader(lab.root).scan().by_address()
    assert devices[PF0].ifname is None
    assert devices[PF0].mac is None
    assert devices[VF0].pf_ifname is None
    assert devices[VF0].ifname == "ens1f0v0"
    assert devices[VF0].vf_index == 0


def test_switchdev_representors_are_not_the_pf_netdev(lab: LabSysfs) -> None:
    lab.add_card(PROFILES["cx6dx"], pfs=1, vfs=1)
    pf_net = lab.root / "sys/bus/pci/devices/0000:3b:00.0/net"
    representor = pf_net / "aaa_rep0"
    representor.mkdir()
    (representor / "phys_port_name").write_text("pf0vf0\n")
    devices = SysfsReader(lab.root).scan().by_address()
    assert devices[PF0].ifname == "ens1f0np0"


def test_non_network_devices_and_stray_names_are_left_out(lab: LabSysfs) -> None:
    devices_dir = _x710(lab, vfs=0)
    (devices_dir / "not-an-address").mkdir()
    scan = SysfsReader(lab.root).scan()
    assert [d.address for d in scan.devices] == [PF0]  # the root port is a bridge
    assert any("not-an-address: not a PCI address" in p for p in scan.problems)


def test_missing_sysfs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SysfsError, match="is sysfs mounted"):
        SysfsReader(tmp_path).scan()


def test_pci_facts_for_device_spec(lab: LabSysfs) -> None:
    _x710(lab, vfs=1)
    reader = SysfsReader(lab.root)
    assert reader.sriov_totalvfs(PF0) == 64
    assert reader.sriov_totalvfs(VF0) is None
    assert reader.pci_ids(PF0) == ("8086", "1572")
    assert reader.pci_ids(PciAddress.parse("0000:99:00.0")) is None
    assert reader.sriov_vf_device(PF0) == "154c"
    assert reader.netdev_address("ens1f0") == PF0
    assert reader.netdev_address("ens1f0v0") == VF0
    assert reader.netdev_address("nope") is None
    assert reader.netdev_address("../../bus") is None
