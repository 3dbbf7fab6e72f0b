"""``vfplane hosts`` and ``vfplane devices``: what the hosts have and which port each VF serves."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from vfplane.cli.cloud import (
    OS_CLIENT_CONFIG_FILE,
    OS_CLOUD,
    CliProblem,
    api_client,
    cloud_from_options,
)
from vfplane.client import ApiCallError

EXIT_PROBLEM = 2
STATUS_STYLE = {"available": "green", "claimed": "yellow", "allocated": "magenta",
                "unavailable": "dim", "unclaimable": "dim"}  # fmt: skip


def _fetch(os_cloud: str | None, config_file: Path | None, path: str) -> Any:
    try:
        client = api_client(cloud_from_options(os_cloud, config_file))
        try:
            return client.call("GET", path)
        finally:
            client.close()
    except (CliProblem, ApiCallError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_PROBLEM) from exc


def _emit(data: Any, as_json: bool, render: Callable[[Console, Any], None]) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        render(Console(emoji=False), data)


def _render_hosts(console: Console, body: dict[str, Any]) -> None:
    table = Table(title="hosts", title_justify="left")
    for column in ("host", "vCPUs", "memory MiB", "NUMA", "physnets (PFs)", "devices", "rev"):
        table.add_column(column)
    for host in body["hosts"]:
        mappings = host["configurations"].get("device_mappings", {})
        physnets = ", ".join(f"{p} ({', '.join(pfs)})" for p, pfs in sorted(mappings.items()))
        table.add_row(host["name"], str(host["vcpus"]), str(host["memory_mb"]),
                      str(len(host["numa_topology"])), physnets or "-",
                      str(host.get("device_count", "-")), str(host["revision"]))  # fmt: skip
    console.print(table)


def hosts(
    os_cloud: str | None = OS_CLOUD,
    os_client_config_file: Path | None = OS_CLIENT_CONFIG_FILE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The registered hosts: capacity, NUMA nodes, PF → physnet mappings."""
    body = _fetch(os_cloud, os_client_config_file, "/v1/hosts")
    devices = _fetch(os_cloud, os_client_config_file, "/v1/devices")["devices"]
    for host in body["hosts"]:
        host["device_count"] = sum(1 for d in devices if d["host"] == host["name"])
    _emit(body, as_json, _render_hosts)


def _render_devices(console: Console, body: dict[str, Any]) -> None:
    table = Table(title="PCI devices", title_justify="left")
    for column in ("host", "address", "type", "ids", "PF", "VF", "netdev", "numa", "physnet",
                   "status", "port"):  # fmt: skip
        table.add_column(column, no_wrap=column in {"address", "port"})
    for d in body["devices"]:
        style = STATUS_STYLE.get(d["status"], "")
        table.add_row(
            d["host"], d["address"], d["dev_type"].removeprefix("type-"),
            f"{d['vendor_id']}:{d['product_id']}", d["pf_ifname"] or "-",
            "-" if d["vf_index"] is None else str(d["vf_index"]), d["ifname"] or "-",
            "-" if d["numa_node"] is None else str(d["numa_node"]), d["physical_network"] or "-",
            f"[{style}]{d['status']}[/]" if style else d["status"], d["port_id"] or "-",
        )  # fmt: skip
    console.print(table)


def devices(
    host: str | None = typer.Option(None, "--host", help="Only this host."),
    os_cloud: str | None = OS_CLOUD,
    os_client_config_file: Path | None = OS_CLIENT_CONFIG_FILE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every PF and VF the hosts report, its state, and the port each VF serves."""
    path = f"/v1/devices?host={host}" if host else "/v1/devices"
    _emit(_fetch(os_cloud, os_client_config_file, path), as_json, _render_devices)
