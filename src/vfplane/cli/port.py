"""``vfplane port explain PORT``: why a port is bound, or why not, driver by driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from vfplane.cli.cloud import CliProblem, Cloud, load_cloud

app = typer.Typer(help="Inspect ports.", no_args_is_help=True)

EXIT_BOUND = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def authenticate(client: httpx.Client, cloud: Cloud) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": cloud.username,
                        "domain": {"name": cloud.user_domain_name},
                        "password": cloud.password,
                    }
                },
            },
            "scope": {
                "project": {
                    "name": cloud.project_name,
                    "domain": {"name": cloud.project_domain_name},
                }
            },
        }
    }
    response = client.post(f"{cloud.auth_url.rstrip('/')}/auth/tokens", json=body)
    if response.status_code not in (200, 201):
        raise CliProblem(f"authentication failed: {_message(response)}")
    return response.headers["X-Subject-Token"]


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    for value in body.values() if isinstance(body, dict) else ():
        if isinstance(value, dict) and value.get("message"):
            return f"{value['message']} (HTTP {response.status_code})"
    return f"HTTP {response.status_code}"


def _port_id(client: httpx.Client, cloud: Cloud, headers: dict[str, str], port: str) -> str:
    """``port`` itself when it is an id, else the one port of that name."""
    url = f"{cloud.base_url}/network/v2.0/ports"
    if client.get(f"{url}/{port}", headers=headers).status_code == 200:
        return port
    found = client.get(url, params={"name": port}, headers=headers)
    matches = [p["id"] for p in found.json().get("ports", [])] if found.is_success else []
    if len(matches) != 1:
        raise CliProblem(f"No Port found for {port}" if not matches else
                         f"More than one Port exists with the name '{port}'.")  # fmt: skip
    return str(matches[0])


def fetch_explanation(client: httpx.Client, cloud: Cloud, port: str) -> dict[str, Any]:
    headers = {"X-Auth-Token": authenticate(client, cloud)}
    port_id = _port_id(client, cloud, headers, port)
    response = client.get(f"{cloud.base_url}/v1/ports/{port_id}/explain", headers=headers)
    if not response.is_success:
        raise CliProblem(f"cannot explain port {port}: {_message(response)}")
    explanation: dict[str, Any] = response.json()["port"]
    return explanation


def render(console: Console, port: dict[str, Any]) -> None:
    network = port["network"]
    segment = network["segmentation_id"] if network["segmentation_id"] is not None else "-"
    console.print(f"[bold]Port[/bold] {port['id']} {port['name'] or ''}".rstrip())
    console.print(f"  host: {port['host'] or '(none)'}   vnic_type: {port['vnic_type']}")
    console.print(
        f"  network: {network['id']}  type {network['network_type']}, physnet "
        f"{network['physical_network'] or '-'}, segment {segment}"
    )
    bound_by = f" by {port['bound_driver']}" if port["bound_driver"] else ""
    console.print(
        f"  vif_type: [bold]{port['vif_type']}[/bold]{bound_by}   status: {port['status']}"
    )
    if port["failure_reasons"]:
        console.print("  recorded failure reasons:")
        for reason in port["failure_reasons"]:
            console.print(f"    - {reason['driver']}: {reason['reason']}")
    if port["drivers"]:
        table = Table(title="Mechanism drivers now", title_justify="left")
        table.add_column("driver")
        table.add_column("verdict")
        for verdict in port["drivers"]:
            text = f"binds ({verdict['vif_type']})" if verdict["binds"] else verdict["reason"]
            table.add_row(verdict["driver"], text)
        console.print(table)


def exit_code(port: dict[str, Any]) -> int:
    return EXIT_FAILED if port["vif_type"] == "binding_failed" else EXIT_BOUND


def run_explain(client: httpx.Client, cloud: Cloud, port: str, console: Console) -> int:
    explanation = fetch_explanation(client, cloud, port)
    render(console, explanation)
    return exit_code(explanation)


@app.command("explain")
def explain(
    port: str = typer.Argument(..., help="Port id or name."),
    os_cloud: str | None = typer.Option(None, "--os-cloud", envvar="OS_CLOUD"),
    os_client_config_file: Path | None = typer.Option(
        None, "--os-client-config-file", envvar="OS_CLIENT_CONFIG_FILE"
    ),
) -> None:
    """Show a port's binding and every mechanism driver's reason; exit 1 if binding failed."""
    try:
        if not os_cloud:
            raise CliProblem("no cloud given: use --os-cloud NAME or set OS_CLOUD")
        cloud = load_cloud(os_cloud, os_client_config_file)
        with httpx.Client(timeout=30) as client:
            code = run_explain(client, cloud, port, Console())
    except CliProblem as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the server: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    raise typer.Exit(code)
