"""Inventory output: a rich tree for people, JSON for programs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from vfplane.domain.inventory import Inventory, InventoryEntry
from vfplane.domain.pci import DeviceType, PciDevice
from vfplane.host.pciids import PciIds


def _names(device: PciDevice, names: PciIds) -> tuple[str, str]:
    vendor = names.vendor_name(device.vendor_id) or f"vendor {device.vendor_id}"
    product = names.device_name(device.vendor_id, device.product_id) or (
        f"device {device.product_id}"
    )
    return vendor, product


def _tags_text(entry: InventoryEntry) -> str:
    if entry.excluded:
        return "[yellow]excluded[/]"
    if not entry.selected:
        return "[dim]not selected by device_spec[/]"
    tags = entry.device.tags
    physnet = tags.get("physical_network", "-")
    others = " ".join(f"{k}={v}" for k, v in sorted(tags.items()) if k != "physical_network")
    text = f"[green]physnet {escape(str(physnet))}[/]"
    return f"{text} [cyan]{escape(others)}[/]" if others else text


def _device_line(entry: InventoryEntry, names: PciIds) -> str:
    device = entry.device
    vendor, product = _names(device, names)
    parts = [
        f"[bold]{device.address}[/]",
        f"{escape(vendor)} {escape(product)} [{device.vendor_id}:{device.product_id}]",
        f"driver {device.driver or '-'}",
        f"numa {device.numa_node if device.numa_node is not None else '-'}",
        f"netdev {device.ifname or '-'}",
    ]
    if device.dev_type is DeviceType.PF:
        parts.insert(0, "PF")
        parts.append(f"VFs {device.sriov_numvfs or 0}/{device.sriov_totalvfs or 0}")
        if device.mac:
            parts.append(f"mac {device.mac}")
    elif device.dev_type is DeviceType.VF:
        index = device.vf_index if device.vf_index is not None else "?"
        parts = [f"VF {index}", parts[0], f"[{device.vendor_id}:{device.product_id}]", *parts[2:]]
    else:
        parts.insert(0, "PCI")
    line = "  ".join(parts) + "  " + _tags_text(entry)
    notes = "".join(f"\n[yellow]! {escape(note)}[/]" for note in entry.notes)
    return line + notes


def render_inventory(console: Console, inventory: Inventory, names: PciIds, root: Path) -> None:
    tree = Tree(f"[bold]SR-IOV inventory[/] of {escape(str(root))}")
    for node in inventory.pfs:
        branch = tree.add(_device_line(node.entry, names))
        for vf in node.vfs:
            branch.add(_device_line(vf, names))
    if inventory.others:
        others = tree.add("[bold]other network devices[/]")
        for entry in inventory.others:
            others.add(_device_line(entry, names))
    console.print(tree, highlight=False)
    selected = sum(1 for _ in inventory.selected())
    unselected = inventory.unselected()
    if not inventory.spec_configured:
        console.print("[yellow]No [pci] device_spec is configured: no device is assignable.[/]")
    console.print(f"{selected} devices selected by device_spec, {len(unselected)} not selected")
    if inventory.spec_configured and unselected:
        listed = ", ".join(str(e.device.address) for e in unselected[:8])
        more = f" and {len(unselected) - 8} more" if len(unselected) > 8 else ""
        console.print(f"[dim]not selected: {listed}{more}[/]")


def entry_as_json(entry: InventoryEntry, names: PciIds) -> dict[str, Any]:
    device = entry.device
    vendor, product = _names(device, names)
    return {
        "address": str(device.address),
        "vendor_id": device.vendor_id,
        "product_id": device.product_id,
        "vendor_name": vendor,
        "product_name": product,
        "dev_type": device.dev_type.value,
        "parent_addr": str(device.parent_addr) if device.parent_addr else None,
        "numa_node": device.numa_node,
        "driver": device.driver,
        "ifname": device.ifname,
        "pf_ifname": device.pf_ifname,
        "vf_index": device.vf_index,
        "mac": device.mac,
        "iommu_group": device.iommu_group,
        "sriov_totalvfs": device.sriov_totalvfs,
        "sriov_numvfs": device.sriov_numvfs,
        "selected": entry.selected,
        "device_spec_entry": entry.spec_index,
        "excluded": entry.excluded,
        "physical_network": device.physical_network,
        "tags": dict(device.tags),
        "notes": list(entry.notes),
    }


def inventory_as_json(inventory: Inventory, names: PciIds) -> dict[str, Any]:
    return {
        "pfs": [
            {**entry_as_json(n.entry, names), "vfs": [entry_as_json(v, names) for v in n.vfs]}
            for n in inventory.pfs
        ],
        "others": [entry_as_json(e, names) for e in inventory.others],
        "device_spec_configured": inventory.spec_configured,
    }
