"""``vfplane device-spec``: test a [pci] device_spec before deploying it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vfplane.cli.errors import EXIT_CONFIG_ERROR
from vfplane.domain.devspec import MatchSubject, parse_device_spec
from vfplane.errors import InvalidDeviceSpec, InvalidPciAddress
from vfplane.host.sysfs import SysfsReader

app = typer.Typer(help="Check \\[pci] device_spec entries.", no_args_is_help=True)

EXIT_NO_MATCH = 1


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_CONFIG_ERROR)


@app.command("match")
def match(
    spec: list[str] = typer.Option(
        ..., "--spec", help="A device_spec value: a JSON object or list (repeatable, in order)."
    ),
    device: str = typer.Option(
        ...,
        "--device",
        help="The device as JSON with Nova's keys: address, vendor_id, product_id, "
        "and optionally parent_addr and capabilities.",
    ),
    sysfs_root: Path = typer.Option(
        Path("/"), "--sysfs-root", help="Host root where PFs and devnames are looked up."
    ),
) -> None:
    """Say whether DEVICE matches SPEC, with the tags it gets or why not.

    Exit 0: match; 1: no match; 2: invalid spec or device.
    """
    facts = SysfsReader(sysfs_root)
    try:
        specs = parse_device_spec(spec, facts)
    except InvalidDeviceSpec as exc:
        raise _fail(str(exc)) from exc
    try:
        raw = json.loads(device)
    except json.JSONDecodeError as exc:
        raise _fail(f"--device is not JSON: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise _fail("--device must be a JSON object")
    try:
        subject = MatchSubject.from_mapping(raw)
    except (InvalidDeviceSpec, InvalidPciAddress) as exc:
        raise _fail(f"--device: {exc}") from exc
    for warning in specs.warnings:
        typer.echo(f"warning: {warning}", err=True)
    found = specs.match(subject, facts)
    if found is not None:
        typer.echo(f"match (entry {found.spec.index})")
        typer.echo(f"tags: {json.dumps(dict(found.tags), sort_keys=True)}")
        return
    typer.echo("no match")
    if not specs.entries:
        typer.echo("  the device_spec has no entries, so no device is assignable")
    for entry, verdict in specs.explain(subject, facts):
        typer.echo(f"  {entry.describe()}: {verdict.reason}")
    raise typer.Exit(EXIT_NO_MATCH)
