"""The ``vfplane`` command: the composition root that wires adapters together."""

from __future__ import annotations

import typer

from vfplane import __version__
from vfplane.cli import agent, devspec, explain, hosts, inventory, lab, port, server, up


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vfplane {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="vfplane",
        help="SR-IOV network control plane for KVM/libvirt clusters.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Show the version."
        ),
    ) -> None:
        """SR-IOV network control plane for KVM/libvirt clusters."""

    app.add_typer(lab.app, name="lab")
    app.add_typer(devspec.app, name="device-spec")
    app.add_typer(port.app, name="port")
    app.command("inventory")(inventory.inventory)
    app.command("server")(server.server)
    app.command("agent")(agent.agent)
    app.command("up")(up.up)
    app.command("hosts")(hosts.hosts)
    app.command("devices")(hosts.devices)
    app.command("explain")(explain.explain)
    app.command("bootstrap")(server.bootstrap)
    return app


def main() -> None:
    build_app()()
