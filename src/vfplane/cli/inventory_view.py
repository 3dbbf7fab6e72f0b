"""Inventory output: a rich tree for people, JSON for programs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from vfplane.agent.inventory import device_body
from vfplane.domain.inventory import Inventory, InventoryEntry
from vfplane.domain.pci import DeviceType, PciDevice
from vfplane.host.pciids import PciIds


def _names(device: PciDevice, names: PciIds) -> tuple[str, str]:
    vendor = names.vendor_name(device.vendor_id) or f"vendor {device.vendor_id}"
    product = names.device_name(device.vendor_id, device.product_id) or (
        f"device {device.product_id}"
    )
    return vendor, product


def _selection(entry: InventoryEntry) -> str:
    if entry.excluded:
        return "[yellow]excluded[/]"
    if not entry.selected:
        return "[dim]not selected[/]"
    return f"[green]entry {entry.spec_index}[/]"


def _physnet(entry: InventoryEntry) -> str:
    if not entry.selected:
        return "-"
    physnet = entry.device.tags.get("physical_network", "-")
    return escape(str(physnet) if physnet is not None else "null (overlay)")


def _other_tags(entry: InventoryEntry) -> str:
    tags = entry.device.tags if entry.selected else {}
    return escape(" ".join(f"{k}={v}" for k, v in sorted(tags.items()) if k != "physical_network"))


def _notes(entry: InventoryEntry) -> str:
    return "".join(f"\n[yellow]! {escape(note)}[/]" for note in entry.notes)


def _pf_label(entry: InventoryEntry, vfs: tuple[InventoryEntry, ...], names: PciIds) -> Text:
    device = entry.device
    vendor, product = _names(device, names)
    label = (
        f"[bold]PF {device.address}[/]  {escape(vendor)} {escape(product)} "
        f"[{device.vendor_id}:{device.product_id}]\n"
        f"driver {device.driver or '-'} · numa {_numa(device)} · netdev "
        f"{device.ifname or '-'} · mac {device.mac or '-'} · "
        f"VFs {device.sriov_numvfs or 0}/{device.sriov_totalvfs or 0} · "
        f"{_selection(entry)} · physnet {_physnet(entry)} {_other_tags(entry)}"
    )
    if vfs:
        _, vf_product = _names(vfs[0].device, names)
        label += f"\nVFs: {escape(vf_product)} [{vfs[0].device.vendor_id}:" + (
            f"{vfs[0].device.product_id}]"
        )
    return Text.from_markup(label + _notes(entry), emoji=False)


def _numa(device: PciDevice) -> str:
    return str(device.numa_node) if device.numa_node is not None else "-"


def _vf_table(vfs: tuple[InventoryEntry, ...]) -> Table:
    table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    for column in ("VF", "address", "driver", "netdev", "mac", "numa", "spec", "physnet", "tags"):
        table.add_column(column, no_wrap=column in {"address", "mac"})
    for entry in vfs:
        device = entry.device
        index = str(device.vf_index) if device.vf_index is not None else "?"
        table.add_row(
            index,
            str(device.address),
            device.driver or "-",
            device.ifname or "-",
            device.mac or "-",
            _numa(device),
            _selection(entry),
            _physnet(entry),
            _other_tags(entry) + _notes(entry),
        )
    return table


def _other_label(entry: InventoryEntry, names: PciIds) -> Text:
    device = entry.device
    vendor, product = _names(device, names)
    kind = "VF (PF not found)" if device.dev_type is DeviceType.VF else "PCI"
    return Text.from_markup(
        f"[bold]{kind} {device.address}[/]  {escape(vendor)} {escape(product)} "
        f"[{device.vendor_id}:{device.product_id}] · driver {device.driver or '-'} · "
        f"netdev {device.ifname or '-'} · {_selection(entry)} · physnet {_physnet(entry)}"
        + _notes(entry),
        emoji=False,
    )


def render_inventory(console: Console, inventory: Inventory, names: PciIds, root: Path) -> None:
    tree = Tree(f"[bold]SR-IOV inventory[/] of {escape(str(root))}")
    for node in inventory.pfs:
        branch = tree.add(_pf_label(node.entry, node.vfs, names))
        if node.vfs:
            branch.add(_vf_table(node.vfs))
    for entry in inventory.others:
        tree.add(_other_label(entry, names))
    console.print(tree, highlight=False)
    unselected = inventory.unselected()
    if not inventory.spec_configured:
        console.print("[yellow]No \\[pci] device_spec is configured: no device is assignable.[/]")
    selected = len(inventory.selected())
    console.print(f"{selected} devices selected by device_spec, {len(unselected)} not selected")
    if inventory.spec_configured and unselected:
        listed = ", ".join(str(e.device.address) for e in unselected[:8])
        more = f" and {len(unselected) - 8} more" if len(unselected) > 8 else ""
        console.print(f"[dim]not selected: {listed}{more}[/]")


def entry_as_json(entry: InventoryEntry, names: PciIds) -> dict[str, Any]:
    device = entry.device
    vendor, product = _names(device, names)
    return {
        **device_body(device),
        "vendor_name": vendor,
        "product_name": product,
        "sriov_totalvfs": device.sriov_totalvfs,
        "sriov_numvfs": device.sriov_numvfs,
        "selected": entry.selected,
        "device_spec_entry": entry.spec_index,
        "excluded": entry.excluded,
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
