"""``vfplane agent``: the host agent process (the composition root for one host)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path
from types import FrameType

import typer

from vfplane import logs
from vfplane.agent.domains import DomainReconciler
from vfplane.agent.inventory import scan_host
from vfplane.agent.loop import Agent, AgentTiming
from vfplane.agent.reconcile import Reconciler
from vfplane.cli.errors import reported_errors
from vfplane.cli.log_option import LOG_FORMAT_OPTION, LogFormat
from vfplane.client import ApiClient, Credentials
from vfplane.domain.device_mappings import parse_device_mappings, parse_physical_device_mappings
from vfplane.domain.devspec import parse_device_spec
from vfplane.errors import ConfigError
from vfplane.host.hypervisor import LibvirtHypervisor
from vfplane.host.netlink_nic import NetlinkNic
from vfplane.host.nic import NicDriver
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.sysfs import SysfsReader
from vfplane.host.vf_state_store import VfStateStore
from vfplane.settings import Settings, load_settings

LOG = logging.getLogger(__name__)  # its lines go where the agent's go (text or JSON)


def check_config(settings: Settings) -> None:
    """Refuse to start on [pci] device_spec or [agent] mappings that every scan would reject
    (the agent's loop would only log them and retry forever)."""
    agent = settings.agent
    parse_device_spec(settings.pci.device_spec, SysfsReader(agent.sysfs_root))
    parse_device_mappings(agent.physical_device_mappings, agent.exclude_devices)


def build_agent(settings: Settings) -> Agent:
    agent = settings.agent
    if not agent.username or not agent.password:
        raise ConfigError("[agent] username and password are required (the agent's account; "
                          "VFPLANE_AGENT__PASSWORD works too)")  # fmt: skip
    check_config(settings)
    host = agent.host or socket.gethostname()
    nic: NicDriver = (
        SimulatedNic(agent.sysfs_root)
        if agent.nic_driver == "simulated"
        else NetlinkNic(agent.sysfs_root)
    )
    credentials = Credentials(agent.username, agent.password, agent.project_name)
    client = ApiClient(agent.server_url, credentials)
    reconciler = Reconciler(nic, VfStateStore(agent.state_dir))
    timing = AgentTiming(agent.report_interval, agent.poll_timeout, agent.rescan_interval)
    domains = DomainReconciler(LibvirtHypervisor(agent.libvirt_uri))
    scan = lambda: scan_host(agent, settings.pci)  # noqa: E731
    uplinks = parse_physical_device_mappings(agent.interface_mappings, "interface_mappings")
    return Agent(host, client, reconciler, scan, timing, domains, uplinks)


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def agent(
    config: Path | None = typer.Option(
        None, "--config", envvar="VFPLANE_CONFIG", help="vfplane.toml with \\[agent] and \\[pci]."
    ),
    log_format: LogFormat | None = LOG_FORMAT_OPTION,
) -> None:
    """Run the host agent: report the host, configure VFs of ports bound here."""
    with reported_errors():
        settings = load_settings(config, os.environ)
        host_agent = build_agent(settings)
    logs.configure(settings.logging, log_format)  # after the checks: a bad config is one line
    signal.signal(signal.SIGTERM, _raise_interrupt)
    stop = threading.Event()
    LOG.info("vfplane agent for host %s → %s", host_agent.host, settings.agent.server_url)
    try:
        host_agent.run(stop)
    except KeyboardInterrupt:
        stop.set()
        LOG.info("vfplane agent for host %s stopped", host_agent.host)
    finally:
        host_agent.close()
