"""A host's SR-IOV inventory: devices as a PF → VF tree, with what device_spec selects."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from vfplane.domain.device_mappings import DeviceMappings
from vfplane.domain.devspec import DeviceSpecList, PciFacts
from vfplane.domain.pci import DeviceType, PciAddress, PciDevice


@dataclass(frozen=True)
class InventoryEntry:
    """One device, its tags when a device_spec entry selects it, and notes for the operator."""

    device: PciDevice
    spec_index: int | None = None
    excluded: bool = False
    notes: tuple[str, ...] = ()

    @property
    def selected(self) -> bool:
        """Assignable: a device_spec entry selects it and exclude_devices does not drop it."""
        return self.spec_index is not None and not self.excluded


@dataclass(frozen=True)
class PfNode:
    entry: InventoryEntry
    vfs: tuple[InventoryEntry, ...] = ()


@dataclass(frozen=True)
class Inventory:
    pfs: tuple[PfNode, ...]
    others: tuple[InventoryEntry, ...]
    spec_configured: bool

    def entries(self) -> Iterable[InventoryEntry]:
        for node in self.pfs:
            yield node.entry
            yield from node.vfs
        yield from self.others

    def selected(self) -> list[PciDevice]:
        return [e.device for e in self.entries() if e.selected]

    def unselected(self) -> list[InventoryEntry]:
        return [e for e in self.entries() if not e.selected]


def build_inventory(
    devices: Iterable[PciDevice],
    spec: DeviceSpecList,
    facts: PciFacts,
    mappings: DeviceMappings | None = None,
) -> Inventory:
    """Tag each device with its first matching device_spec entry and group VFs under PFs."""
    mappings = mappings or DeviceMappings()
    entries = [_classify(device, spec, facts, mappings) for device in devices]
    by_address = {e.device.address: e for e in entries}
    children: dict[PciAddress, list[InventoryEntry]] = {}
    others: list[InventoryEntry] = []
    for entry in entries:
        parent = entry.device.parent_addr
        if entry.device.dev_type is DeviceType.VF and parent in by_address:
            children.setdefault(parent, []).append(entry)
        elif entry.device.dev_type is not DeviceType.PF:
            others.append(entry)
    pfs = tuple(
        PfNode(e, tuple(sorted(children.get(e.device.address, []), key=_vf_order)))
        for e in entries
        if e.device.dev_type is DeviceType.PF
    )
    return Inventory(pfs, tuple(others), bool(spec.entries))


def _vf_order(entry: InventoryEntry) -> tuple[int, PciAddress]:
    index = entry.device.vf_index
    return (index if index is not None else 1 << 30, entry.device.address)


def _classify(
    device: PciDevice, spec: DeviceSpecList, facts: PciFacts, mappings: DeviceMappings
) -> InventoryEntry:
    match = spec.match(device, facts)
    pf_ifname = device.ifname if device.dev_type is DeviceType.PF else device.pf_ifname
    notes: list[str] = []
    excluded = device.dev_type is DeviceType.VF and mappings.is_excluded(pf_ifname, device.address)
    if match is None:
        return InventoryEntry(device, None, excluded, tuple(notes))
    tagged = replace(device, tags=dict(match.tags))
    mapped = mappings.physnet_of(pf_ifname)
    tagged_physnet = tagged.physical_network
    if mapped is not None and "physical_network" in match.tags and tagged_physnet != mapped:
        notes.append(
            f"device_spec says physical_network {tagged_physnet}, "
            f"physical_device_mappings maps {pf_ifname} to {mapped}"
        )
    return InventoryEntry(tagged, match.spec.index, excluded, tuple(notes))
