"""Every hardware profile's sysfs tree reads back exactly as it was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfplane.domain.pci import DeviceType, PciAddress
from vfplane.host.sysfs import SysfsReader
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_reads_back_exactly(lab: LabSysfs, name: str) -> None:
    written = lab.add_card(PROFILES[name], pfs=2, vfs=4, numa_nodes=[0, 1], vfio_vfs=1)
    scan = SysfsReader(lab.root).scan()
    assert scan.problems == ()
    assert scan.pending == ()
    assert sorted(scan.devices, key=lambda d: d.address) == sorted(written, key=lambda d: d.address)
    pfs = [d for d in scan.devices if d.dev_type is DeviceType.PF]
    vfs = [d for d in scan.devices if d.dev_type is DeviceType.VF]
    assert len(pfs) == 2
    assert len(vfs) == 8
    assert {pf.numa_node for pf in pfs} == {0, 1}
    for vf in vfs:
        parent = next(pf for pf in pfs if pf.address == vf.parent_addr)
        assert vf.numa_node == parent.numa_node
        assert vf.pf_ifname == parent.ifname
        assert (vf.ifname is None) == (vf.vf_index == 0)
        assert vf.driver == ("vfio-pci" if vf.vf_index == 0 else PROFILES[name].vf_driver)
    assert all(pf.driver == PROFILES[name].pf_driver for pf in pfs)
    assert len({d.iommu_group for d in scan.devices}) == len(scan.devices)


@pytest.mark.parametrize(
    ("name", "pf", "first_vf"),
    [
        ("x710", "0000:3b:00.0", "0000:3b:02.0"),
        ("x710", "0000:3b:00.1", "0000:3b:0a.0"),
        ("82599", "0000:3b:00.0", "0000:3b:10.0"),
        ("82599", "0000:3b:00.1", "0000:3b:10.1"),
        ("cx5", "0000:3b:00.0", "0000:3b:00.2"),
        ("e810", "0000:3b:00.0", "0000:3b:01.0"),
    ],
)
def test_vf_routing_ids_follow_the_hardware(
    lab: LabSysfs, name: str, pf: str, first_vf: str
) -> None:
    lab.add_card(PROFILES[name], pfs=2, vfs=2)
    devices = SysfsReader(lab.root).scan().by_address()
    vf = devices[PciAddress.parse(first_vf)]
    assert vf.parent_addr == PciAddress.parse(pf)
    assert vf.vf_index == 0


def test_x710_tree_looks_like_a_real_host(lab: LabSysfs) -> None:
    lab.add_card(PROFILES["x710"], pfs=2, vfs=2)
    sys = lab.root / "sys"
    pf_link = sys / "bus/pci/devices/0000:3b:00.0"
    assert str(pf_link.readlink()) == "../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0"
    pf_dir = pf_link.resolve()
    assert str((pf_dir / "driver").readlink()) == "../../../../bus/pci/drivers/i40e"
    assert str((pf_dir / "iommu_group").readlink()).startswith("../../../../kernel/iommu_groups/")
    assert str((pf_dir / "virtfn1").readlink()) == "../0000:3b:02.1"
    assert (pf_dir / "vendor").read_text() == "0x8086\n"
    assert (pf_dir / "device").read_text() == "0x1572\n"
    assert (pf_dir / "class").read_text() == "0x020000\n"
    assert (pf_dir / "sriov_vf_device").read_text() == "154c\n"
    assert (pf_dir / "sriov_offset").read_text() == "16\n"
    vf_dir = sys / "bus/pci/devices/0000:3b:02.0"
    assert str((vf_dir / "physfn").readlink()) == "../0000:3b:00.0"
    assert (sys / "class/net/ens1f0/device").resolve() == pf_dir
    assert str((sys / "class/net/ens1f0/device").readlink()) == "../../../0000:3b:00.0"
    assert (sys / "class/net/ens1f0v0/device").resolve() == vf_dir.resolve()
    assert "PCI_SLOT_NAME=0000:3b:00.0" in (pf_dir / "uevent").read_text()


def test_cards_on_one_host_do_not_overlap(lab: LabSysfs) -> None:
    first = lab.add_card(PROFILES["e810"], pfs=2, vfs=128)
    second = lab.add_card(PROFILES["cx6dx"], pfs=3, vfs=2, numa_nodes=[1])
    addresses = [d.address for d in first + second]
    assert len(set(addresses)) == len(addresses)
    scan = SysfsReader(lab.root).scan()
    assert len(scan.devices) == len(addresses)
    names = [d.ifname for d in scan.devices if d.ifname]
    assert len(set(names)) == len(names)
    assert {d.pf_ifname for d in second if d.dev_type is DeviceType.VF} == {
        "ens2f0np0",
        "ens2f1np1",
        "ens3f0np0",
    }


def test_32_bit_pci_domain(lab: LabSysfs) -> None:
    lab.add_card(PROFILES["x710"], pfs=1, vfs=2, domain=0x10000)
    devices = SysfsReader(lab.root).scan().by_address()
    vf = devices[PciAddress.parse("10000:3b:02.0")]
    assert vf.parent_addr == PciAddress.parse("10000:3b:00.0")
    assert str(vf.address) == "10000:3b:02.0"


def test_unknown_numa_node_is_none(lab: LabSysfs) -> None:
    lab.add_card(PROFILES["82599"], pfs=1, vfs=1, numa_nodes=[-1])
    devices = SysfsReader(lab.root).scan().devices
    assert {d.numa_node for d in devices} == {None}


def test_lab_refuses_more_vfs_than_the_nic_has(tmp_path: Path) -> None:
    from vfplane.lab.sysfs_tree import LabError

    with pytest.raises(LabError, match="supports 0 to 63 VFs per PF"):
        LabSysfs(tmp_path).add_card(PROFILES["82599"], pfs=1, vfs=64)
