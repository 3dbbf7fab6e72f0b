"""The inventory tags devices with their first matching entry and groups VFs under PFs."""

from __future__ import annotations

from vfplane.domain.device_mappings import parse_device_mappings
from vfplane.domain.devspec import parse_device_spec
from vfplane.domain.inventory import build_inventory
from vfplane.domain.pci import DeviceType, PciAddress, PciDevice

PF = PciAddress.parse("0000:3b:00.0")


class NoFacts:
    """A host that answers no sysfs questions."""

    def sriov_totalvfs(self, address: PciAddress) -> int | None:
        return None

    def pci_ids(self, address: PciAddress) -> tuple[str, str] | None:
        return None

    def sriov_vf_device(self, address: PciAddress) -> str | None:
        return None

    def netdev_address(self, ifname: str) -> PciAddress | None:
        return None


def _devices() -> list[PciDevice]:
    pf = PciDevice(PF, "8086", "1572", DeviceType.PF, ifname="ens1f0")
    vfs = [
        PciDevice(
            PciAddress(0, 0x3B, 2, i),
            "8086",
            "154c",
            DeviceType.VF,
            parent_addr=PF,
            vf_index=i,
            pf_ifname="ens1f0",
        )
        for i in (1, 0)
    ]
    orphan = PciDevice(
        PciAddress.parse("0000:5e:02.0"),
        "8086",
        "154c",
        DeviceType.VF,
        parent_addr=PciAddress.parse("0000:5e:00.0"),
    )
    plain = PciDevice(PciAddress.parse("0000:01:00.0"), "8086", "1533", DeviceType.PCI)
    return [pf, *vfs, orphan, plain]


def test_tree_tags_and_selection() -> None:
    spec = parse_device_spec(
        ['{"product_id": "154c", "physical_network": "physnet1"}', '{"vendor_id": "8086"}'],
        NoFacts(),
    )
    inventory = build_inventory(_devices(), spec, NoFacts())
    (node,) = inventory.pfs
    assert [vf.device.vf_index for vf in node.vfs] == [0, 1]
    assert all(vf.device.physical_network == "physnet1" for vf in node.vfs)
    assert node.entry.spec_index == 1
    assert node.entry.device.tags == {}
    assert [e.device.dev_type for e in inventory.others] == [DeviceType.VF, DeviceType.PCI]
    assert len(inventory.selected()) == 5
    assert inventory.unselected() == []


def test_excluded_vfs_are_not_selected() -> None:
    spec = parse_device_spec(['{"physical_network": "physnet1"}'], NoFacts())
    mappings = parse_device_mappings("physnet1:ens1f0", "ens1f0:0000:3b:02.1")
    inventory = build_inventory(_devices(), spec, NoFacts(), mappings)
    excluded = [e for e in inventory.entries() if e.excluded]
    assert [str(e.device.address) for e in excluded] == ["0000:3b:02.1"]
    assert not excluded[0].selected
    assert excluded[0].spec_index == 0


def test_empty_device_spec_selects_nothing() -> None:
    inventory = build_inventory(_devices(), parse_device_spec([], NoFacts()), NoFacts())
    assert not inventory.spec_configured
    assert inventory.selected() == []
