"""``vfplane explain SERVER``: where a server landed, or why no host could take it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from vfplane.cli.cloud import (
    OS_CLIENT_CONFIG_FILE,
    OS_CLOUD,
    CliProblem,
    api_client,
    cloud_from_options,
)
from vfplane.client import ApiCallError, ApiClient

EXIT_ERROR, EXIT_PROBLEM = 1, 2


def _server_id(client: ApiClient, server: str) -> str:
    try:
        found: dict[str, Any] = client.call("GET", f"/compute/v2.1/servers/{server}")
        return str(found["server"]["id"])
    except ApiCallError as exc:
        if exc.status != 404:
            raise
    listed = client.call("GET", "/compute/v2.1/servers/detail", params={"name": server})
    matches = [s["id"] for s in listed["servers"] if s["name"] == server]
    if len(matches) != 1:
        raise CliProblem(f"No Server found for {server}" if not matches
                         else f"More than one Server exists with the name '{server}'.")  # fmt: skip
    return str(matches[0])


def render(console: Console, server: dict[str, Any]) -> None:
    console.print(f"[bold]Server[/] {server['id']} {escape(server['name'])}: {server['status']}"
                  + (f" on {server['host']}" if server["host"] else ""))  # fmt: skip
    for request in server["pci_requests"]:
        who = (
            f"port {request['requester_id']}"
            if request["requester_id"]
            else (f"alias {request['alias_name']}")
        )
        console.print(f"  request {request['request_id'][:8]} ({who}): {request['count']} x "
                      f"{escape(str(request['specs']))}")  # fmt: skip
    explanation = server["explanation"]
    if explanation.get("summary"):
        console.print(f"  scheduler: {escape(explanation['summary'])}")
    for host in explanation.get("hosts", []):
        console.print(
            f"    {escape(str(host.get('host')))}: {escape(str(host.get('message', '')))}"
        )
    if server["fault"]:
        fault = server["fault"]
        console.print(
            f"  [red]fault:[/] {escape(fault['message'])} {escape(fault.get('details') or '')}"
        )


def explain(
    server: str = typer.Argument(..., help="Server id or name."),
    os_cloud: str | None = OS_CLOUD,
    os_client_config_file: Path | None = OS_CLIENT_CONFIG_FILE,
) -> None:
    """Where SERVER landed and why; per host and per PCI request when nothing fit."""
    try:
        client = api_client(cloud_from_options(os_cloud, os_client_config_file))
        try:
            server_id = _server_id(client, server)
            body = client.call("GET", f"/v1/servers/{server_id}/explain")["server"]
        finally:
            client.close()
    except (CliProblem, ApiCallError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_PROBLEM) from exc
    render(Console(emoji=False, soft_wrap=True), body)
    raise typer.Exit(EXIT_ERROR if body["status"] == "ERROR" else 0)
