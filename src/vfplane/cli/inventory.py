"""``vfplane inventory``: the host's SR-IOV NICs as the agent would report them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console

from vfplane.cli.errors import reported_errors
from vfplane.cli.inventory_view import inventory_as_json, render_inventory
from vfplane.domain.device_mappings import parse_device_mappings
from vfplane.domain.devspec import parse_device_spec
from vfplane.domain.inventory import build_inventory
from vfplane.host.pciids import PciIds
from vfplane.host.sysfs import SysfsReader
from vfplane.settings import load_settings


def inventory(
    sysfs_root: Path | None = typer.Option(
        None, "--sysfs-root", help="Host root to read (default: \\[agent] sysfs_root, or /)."
    ),
    config: Path | None = typer.Option(
        None, "--config", envvar="VFPLANE_CONFIG", help="vfplane.toml with \\[pci] and \\[agent]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a tree."),
) -> None:
    """Show the host's SR-IOV NICs, PF → VFs, with the tags device_spec gives them."""
    console = Console(stderr=True, emoji=False, soft_wrap=True)
    with reported_errors():
        settings = load_settings(config, os.environ)
        reader = SysfsReader(sysfs_root or settings.agent.sysfs_root)
        specs = parse_device_spec(settings.pci.device_spec, reader)
        mappings = parse_device_mappings(
            settings.agent.physical_device_mappings, settings.agent.exclude_devices
        )
        scan = reader.scan()
    for warning in specs.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    for problem in scan.problems:
        console.print(f"[yellow]sysfs:[/] {problem}", highlight=False)
    result = build_inventory(scan.devices, specs, reader, mappings)
    names = PciIds.load()
    if as_json:
        typer.echo(json.dumps(inventory_as_json(result, names), indent=2))
        return
    render_inventory(Console(emoji=False), result, names, reader.root)
