"""``vfplane lab``: simulated hardware for hosts without SR-IOV NICs."""

from __future__ import annotations

from pathlib import Path

import typer

from vfplane.cli.errors import reported_errors
from vfplane.domain.pci import DeviceType
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabError, LabSysfs

app = typer.Typer(help="Simulated SR-IOV hardware.", no_args_is_help=True)


def _parse_numa(text: str) -> list[int]:
    try:
        nodes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of NUMA nodes") from None
    if not nodes or any(n < -1 for n in nodes):
        raise typer.BadParameter(f"{text!r}: NUMA nodes are 0, 1, … or -1 for unknown")
    return nodes


@app.command("make-sysfs")
def make_sysfs(
    directory: Path = typer.Argument(..., help="Host root to write; the tree goes to DIR/sys."),
    profile: str = typer.Option(
        ..., "--profile", help=f"NIC model: {', '.join(PROFILES)}.", show_default=False
    ),
    pfs: int = typer.Option(2, "--pfs", help="Number of PFs (ports); extra cards as needed."),
    vfs: int = typer.Option(8, "--vfs", help="VFs created on each PF (sriov_numvfs)."),
    numa: str = typer.Option("0", "--numa", help="NUMA node per PF, e.g. 0,1 (-1: unknown)."),
    vfio_vfs: int = typer.Option(0, "--vfio-vfs", help="First N VFs of each PF on vfio-pci."),
    domain: str = typer.Option("0000", "--domain", help="PCI domain in hex (e.g. 10000)."),
    append: bool = typer.Option(False, "--append", help="Add the card to an existing tree."),
) -> None:
    """Write the sysfs tree of a host with PFS ports of a PROFILE NIC under DIRECTORY."""
    hardware = PROFILES.get(profile)
    if hardware is None:
        choices = ", ".join(PROFILES)
        raise typer.BadParameter(f"unknown profile {profile!r}; choose one of {choices}")
    try:
        domain_number = int(domain, 16)
    except ValueError:
        raise typer.BadParameter(f"--domain {domain!r} is not a hex number") from None
    with reported_errors():
        if (directory / "sys").exists() and not append:
            raise LabError(
                f"{directory}/sys already exists; pass --append to add a card to it, "
                "or choose an empty directory"
            )
        devices = LabSysfs(directory).add_card(
            hardware,
            pfs=pfs,
            vfs=vfs,
            numa_nodes=_parse_numa(numa),
            vfio_vfs=vfio_vfs,
            domain=domain_number,
        )
    pf_count = sum(1 for d in devices if d.dev_type is DeviceType.PF)
    vf_count = sum(1 for d in devices if d.dev_type is DeviceType.VF)
    typer.echo(
        f"wrote {hardware.title}: {pf_count} PFs, {vf_count} VFs "
        f"({vfio_vfs * pf_count} on vfio-pci) under {directory / 'sys'}"
    )
