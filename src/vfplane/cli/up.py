"""``vfplane up``: the server plus simulated hosts, each with its own agent, from one command."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import typer
import uvicorn
import yaml

from vfplane import logs
from vfplane.cli.demo import run_demo
from vfplane.cli.errors import reported_errors
from vfplane.cli.server import bootstrap_data_dir, build_api, open_database
from vfplane.client import ApiCallError, ApiClient, Credentials
from vfplane.db.engine import make_session_factory
from vfplane.lab.cluster import (
    ClusterSpec,
    HostSpec,
    build_host_root,
    libvirt_host_xml,
    load_cluster,
    pf_mappings,
)
from vfplane.lab.profiles import PROFILES
from vfplane.logs import LogFormat
from vfplane.service import identity
from vfplane.settings import Settings

LOG = logging.getLogger(__name__)
RESTART_DELAY = 1.0


def _toml(value: object) -> str:
    """A TOML value for strings, numbers, lists and inline tables (JSON-compatible escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


@dataclass
class SimulatedHost:
    spec: HostSpec
    directory: Path
    config: Path
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    restarts: int = 0


def _server_settings(cluster: ClusterSpec, data_dir: Path, port: int, interval: float) -> Settings:
    ranges = [f"{p}:{100 * (i + 1)}:{100 * (i + 1) + 99}" for i, p in enumerate(cluster.physnets)]
    return Settings.model_validate({
        "server": {"bind": "127.0.0.1", "port": port, "data_dir": str(data_dir)},
        "network": {"network_vlan_ranges": ranges, "agent_down_time": int(3 * interval)},
    })  # fmt: skip


def prepare_host(
    spec: HostSpec, data_dir: Path, url: str, interval: float, log_format: LogFormat = "text"
) -> SimulatedHost:
    """The host's tree, its libvirt node file, its agent account and agent config."""
    directory = data_dir / "hosts" / spec.name
    devices = build_host_root(spec, directory / "root")
    (directory / "libvirt-host.xml").write_text(libvirt_host_xml(spec))
    mappings = pf_mappings(spec, devices)
    agent = {
        "host": spec.name, "sysfs_root": str(directory / "root"),
        "physical_device_mappings": ",".join(f"{p}:{ifname}" for p, ifname, _ in mappings),
        "interface_mappings": ",".join(f"{p}:{ifname}" for p, ifname, _ in mappings),
        "server_url": url, "username": f"agent-{spec.name}", "password": secrets.token_urlsafe(18),
        "nic_driver": "simulated", "state_dir": str(directory / "agent-state"),
        "report_interval": interval, "poll_timeout": 20.0, "rescan_interval": 5.0,
        "libvirt_uri": f"test://{directory / 'libvirt-host.xml'}",
    }  # fmt: skip
    specs = [{"address": address, "physical_network": p} for p, _, address in mappings]
    text = "[agent]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in agent.items())
    text += f"\n[pci]\ndevice_spec = {_toml(specs)}\n"
    text += f"\n[logging]\nformat = {_toml(log_format)}\n"
    _write_private(directory / "agent.toml", text)
    return SimulatedHost(spec, directory, directory / "agent.toml")


def create_agent_accounts(settings: Settings, hosts: list[SimulatedHost]) -> None:
    """One service account per host, allowed to act for that host only."""
    engine = open_database(settings)
    with make_session_factory(engine)() as session:
        role = identity.ensure_role(session, "service")
        project = identity.ensure_project(session, "service")
        for host in hosts:
            password = tomllib.loads(host.config.read_text())["agent"]["password"]
            user = identity.ensure_user(session, f"agent-{host.spec.name}", password, project)
            user.host = host.spec.name
            identity.grant(session, user, project, role)
        session.commit()
    engine.dispose()


@dataclass
class Supervisor:
    """Starts one agent process per host, restarts any that dies, stops them all at the end."""

    hosts: list[SimulatedHost]
    logs: Path
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self, host: SimulatedHost) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        host.log = (self.logs / f"agent-{host.spec.name}.log").open("ab")
        command = [sys.executable, "-m", "vfplane", "agent", "--config", str(host.config)]
        host.process = subprocess.Popen(command, stdout=host.log, stderr=subprocess.STDOUT)
        (host.directory / "agent.pid").write_text(f"{host.process.pid}\n")

    def watch(self) -> None:
        while not self.stop.wait(0.5):
            for host in self.hosts:
                if host.process is not None and host.process.poll() is not None:
                    host.restarts += 1
                    typer.echo(f"agent of {host.spec.name} exited ({host.process.returncode}); "
                               f"restarting")  # fmt: skip
                    time.sleep(RESTART_DELAY)
                    try:
                        self.start(host)
                    except OSError as exc:
                        typer.echo(f"error: cannot restart the agent of {host.spec.name}: {exc}",
                                   err=True)  # fmt: skip
                        host.process = None

    def shutdown(self) -> None:
        self.stop.set()
        for host in self.hosts:
            if host.process is not None and host.process.poll() is None:
                host.process.terminate()
        for host in self.hosts:
            if host.process is not None:
                try:
                    host.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    host.process.kill()
            if host.log is not None:
                host.log.close()


def wait_until_registered(client: ApiClient, names: set[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            hosts = {h["name"] for h in client.call("GET", "/v1/hosts")["hosts"]}
            agents = client.call("GET", "/network/v2.0/agents")["agents"]
            alive = {a["host"] for a in agents if a["alive"]}
            if names <= hosts and names <= alive:
                return
        except ApiCallError:
            pass
        time.sleep(0.3)
    raise TimeoutError("the agents did not register in time; see the logs folder")


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _check_port(port: int) -> None:
    """Refuse a port another process listens on, as uvicorn's own bind would: with
    SO_REUSEADDR (asyncio's default on Unix), so that the previous run's connections still in
    TIME_WAIT do not block a restart; bind and listen, since only a listener conflicts then."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError as exc:
            raise ApiCallError(0, f"port {port} on 127.0.0.1 is in use ({exc.strerror}); choose "
                               "another with --port") from exc  # fmt: skip


def _admin_client(clouds_path: Path, url: str) -> ApiClient:
    auth = yaml.safe_load(clouds_path.read_text())["clouds"]["vfplane-admin"]["auth"]
    return ApiClient(url, Credentials(auth["username"], auth["password"], auth["project_name"]))


def _describe(host: SimulatedHost) -> str:
    spec = host.spec
    nic = f"{PROFILES[spec.profile].title}, {spec.pfs} PFs x {spec.vfs} VFs"
    machine = f"{spec.vcpus} vCPUs, {spec.memory_mb} MiB"
    return f"{spec.name}: {nic}, physnets {', '.join(spec.physnets)}, {machine}"


def _bring_up_agents(
    server: uvicorn.Server, supervisor: Supervisor, admin: ApiClient, clouds: Path, demo: bool
) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    for host in supervisor.hosts:
        supervisor.start(host)
    try:
        wait_until_registered(admin, {h.spec.name for h in supervisor.hosts}, time.monotonic() + 60)
    except TimeoutError as exc:
        typer.echo(f"error: {exc}", err=True)
        server.should_exit = True
        return
    typer.echo(
        f"API: {admin.base_url}   clouds.yaml: {clouds} (clouds vfplane-admin, vfplane-demo)"
    )
    typer.echo(f"try: OS_CLIENT_CONFIG_FILE={clouds} openstack --os-cloud vfplane-admin "
               "network agent list")  # fmt: skip
    typer.echo(f"dashboard: {admin.base_url}/ui/ (log in as vfplane-admin in clouds.yaml)   "
               f"metrics: {admin.base_url}/metrics")  # fmt: skip
    typer.echo("ready", nl=True)
    sys.stdout.flush()
    if demo:
        try:
            run_demo(admin, clouds.parent, typer.echo)
        except ApiCallError as exc:
            typer.echo(f"demo failed: {exc}", err=True)
        typer.echo("the cluster keeps running; Ctrl-C stops it")
    supervisor.watch()


def up(
    hosts_file: Path | None = typer.Option(
        None, "--hosts", help="Cluster file (TOML [\\[hosts]]); default: 3 hosts, 2 physnets."
    ),
    data_dir: Path = typer.Option(Path("vfplane-data"), "--data-dir", help="State and logs."),
    port: int = typer.Option(9696, "--port", min=1, max=65535, help="API port on 127.0.0.1."),
    report_interval: float = typer.Option(
        10.0, "--report-interval", min=1.0, help="Agent heartbeat period in seconds."
    ),
    demo: bool = typer.Option(False, "--demo", help="Once ready, walk through a direct port."),
    log_format: LogFormat = typer.Option(
        "text",
        "--log-format",
        envvar="VFPLANE_LOGGING__FORMAT",
        help="text, or json: one object per line (server.log and the agents' logs).",
    ),
) -> None:
    """Run the server and simulated hosts (one agent process each) until Ctrl-C."""
    data_dir.mkdir(parents=True, exist_ok=True)
    logs.setup_logging(log_format, filename=data_dir / "server.log")
    with reported_errors():
        _check_port(port)
        cluster = load_cluster(hosts_file)
        settings = _server_settings(cluster, data_dir.resolve(), port, report_interval)
        url = settings.server.public_base()
        typer.echo(f"preparing {len(cluster.hosts)} simulated hosts in {data_dir}")
        hosts = []
        for spec in cluster.hosts:
            hosts.append(prepare_host(spec, data_dir.resolve(), url, report_interval, log_format))
            typer.echo(f"  {_describe(hosts[-1])}")
        clouds = bootstrap_data_dir(settings)
        create_agent_accounts(settings, hosts)
        app = build_api(settings, open_database(settings))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=2)  # fmt: skip
    server = uvicorn.Server(config)
    supervisor = Supervisor(hosts, data_dir / "logs")
    admin = _admin_client(clouds, url)
    threading.Thread(target=_bring_up_agents, args=(server, supervisor, admin, clouds, demo),
                     daemon=True, name="agents").start()  # fmt: skip
    typer.echo(f"starting the server on {url} and {len(hosts)} agents …")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.shutdown()
        admin.close()
        typer.echo("stopped")
