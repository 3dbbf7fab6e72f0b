"""The agent's domains: level-triggered, like the VFs. Per desired server:

- not running but wanted running: render its domain and (re)define and start it;
- running but stopped by the user: shut the guest down (ACPI, then destroy after
  ``shutdown_timeout``); the definition stays;
- running with a lower boot generation than desired: reboot with freshly rendered
  XML (SOFT: guest shutdown first, HARD: destroy), as Nova's reboot regenerates it;
- running with other ports plugged than desired: detach and attach them live, or,
  where the hypervisor cannot hot-plug, restart the domain with the new XML.

Domains of servers that are gone are removed. Each report says which path ran.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vfplane.domain.networks import VifType, VnicType
from vfplane.domain.pci import PciAddress, PciDevice
from vfplane.errors import HotplugUnsupported, VfplaneError
from vfplane.host.hypervisor import Hypervisor
from vfplane.logs import log_context
from vfplane.virt.xml import (
    METADATA_KEY,
    METADATA_NS,
    PciPassthrough,
    VifPlug,
    device_xml,
    domain_generation,
    metadata_port,
    plugged_port_ids,
    refreshed_metadata,
    render_domain,
    render_plug_xml,
)

LOG = logging.getLogger(__name__)
PREFIX = "vfplane-"
DEFAULT_BRIDGE = "vfbr0"
SHUTDOWN_TIMEOUT = 60.0  # seconds a guest gets to power off (Nova's shutdown_timeout)
REBOOT_TYPES = ("SOFT", "HARD")

Server = Mapping[str, Any]


@dataclass(frozen=True)
class DomainReport:
    server_id: str
    state: str  # running | shutoff | error
    message: str = ""
    xml: str | None = None
    request_id: str | None = None  # the call this state answers (the server logs it so)

    def as_dict(self) -> dict[str, Any]:
        found = {"id": self.server_id, "state": self.state, "message": self.message,
                 "xml": self.xml}  # fmt: skip
        return {**found, "request_id": self.request_id} if self.request_id else found

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes this report new to the server: id, state, message and the XML's digest."""
        digest = hashlib.sha256(self.xml.encode()).hexdigest() if self.xml is not None else ""
        return (self.server_id, self.state, self.message, digest)


def domain_name(server_id: str) -> str:
    return f"{PREFIX}{server_id}"


def _plug(interface: Mapping[str, Any], netdevs: Mapping[PciAddress, str | None]) -> VifPlug:
    slot = interface.get("pci_slot")
    address = PciAddress.parse(str(slot)) if slot else None
    return VifPlug(
        port_id=str(interface["port_id"]), mac=str(interface["mac_address"]),
        vif_type=VifType(interface["vif_type"]), vnic_type=VnicType(interface["vnic_type"]),
        vif_details=dict(interface.get("vif_details") or {}), pci_slot=address,
        vf_netdev=netdevs.get(address) if address else None, bridge=DEFAULT_BRIDGE,
    )  # fmt: skip


def _plugs(server: Server, devices: Iterable[PciDevice]) -> list[VifPlug]:
    netdevs = {d.address: d.ifname for d in devices}
    return [_plug(i, netdevs) for i in server["interfaces"]]


def render(server: Server, devices: Iterable[PciDevice]) -> str:
    """The server's whole domain document, with its desired boot generation."""
    hostdevs = [PciPassthrough(PciAddress.parse(h["address"]), bool(h.get("managed", True)))
                for h in server["hostdevs"]]  # fmt: skip
    image = server.get("image_location") or "/var/lib/vfplane/images/none.qcow2"
    return render_domain(
        domain_name(server["id"]), server["id"], int(server["vcpus"]), int(server["memory_mb"]),
        image, _plugs(server, devices), hostdevs, server.get("numa_nodes") or (),
        generation=_generation(server),
    )  # fmt: skip


def _generation(server: Server) -> int:
    return int(server.get("generation") or 0)


def _changes(added: Iterable[str], removed: Iterable[str]) -> str:
    return " ".join([f"+{port}" for port in added] + [f"-{port}" for port in removed])


class DomainReconciler:
    def __init__(self, hypervisor: Hypervisor, shutdown_timeout: float = SHUTDOWN_TIMEOUT):
        self._hypervisor = hypervisor
        self._shutdown_timeout = shutdown_timeout

    def remove_gone(
        self, desired: Sequence[Server], released: Mapping[str, str] | None = None
    ) -> None:
        """Remove the domains of servers no longer desired; ``released``: server id → the
        request id that took it away (the delete), named in the log lines."""
        wanted = {domain_name(s["id"]) for s in desired}
        for name in self._hypervisor.list_domains():
            if name.startswith(PREFIX) and name not in wanted:
                server_id = name.removeprefix(PREFIX)
                with log_context(request_id=(released or {}).get(server_id), server_id=server_id):
                    self._remove(name)

    def _remove(self, name: str) -> None:
        try:
            self._hypervisor.destroy_and_undefine(name)
            LOG.info("domain %s destroyed and undefined", name)
        except VfplaneError as exc:
            LOG.warning("cannot remove domain %s: %s", name, exc)

    def converge(
        self, desired: Sequence[Server], devices: Iterable[PciDevice]
    ) -> list[DomainReport]:
        """Bring each desired server's domain to its desired state; one report per server."""
        devices = list(devices)
        reports = []
        for server in desired:
            request_id = server.get("request_id") or None
            with log_context(request_id=request_id, server_id=server["id"]):
                report = self._converge_logged(server, devices)
            reports.append(dataclasses.replace(report, request_id=request_id))
        return reports

    def _converge_logged(self, server: Server, devices: list[PciDevice]) -> DomainReport:
        try:
            return self._converge_one(server, devices)
        except (VfplaneError, ValueError) as exc:
            LOG.warning("domain of server %s: %s", server["id"], exc)
            return DomainReport(server["id"], "error", message=str(exc))
        except (KeyError, TypeError) as exc:
            message = f"malformed desired server: {type(exc).__name__}: {exc}"
            LOG.warning("domain of server %s: %s", server["id"], message)
            return DomainReport(server["id"], "error", message=message)

    def _converge_one(self, server: Server, devices: list[PciDevice]) -> DomainReport:
        name = domain_name(server["id"])
        running = self._hypervisor.is_running(name)
        if not server.get("running", True):
            return self._stop(server) if running else self._shutoff(server)
        current = self._hypervisor.domain_xml(name)
        if not running or current is None:
            message = "started" if current is not None else ""  # "" for a first boot
            xml = self._hypervisor.define_and_start(render(server, devices))
            LOG.info("domain %s defined and started", name)
            return DomainReport(server["id"], "running", message, xml)
        if domain_generation(current) < _generation(server):
            return self._reboot(server, devices)
        wanted = {str(i["port_id"]) for i in server["interfaces"]}
        plugged = plugged_port_ids(current)
        if plugged != wanted:
            return self._replug(server, devices, current, plugged, wanted)
        return DomainReport(server["id"], "running", xml=current)

    def _shutoff(self, server: Server, message: str = "") -> DomainReport:
        xml = self._hypervisor.domain_xml(domain_name(server["id"]))
        return DomainReport(server["id"], "shutoff", message, xml)

    def _stop(self, server: Server) -> DomainReport:
        name = domain_name(server["id"])
        if self._hypervisor.shutdown(name, self._shutdown_timeout):
            message = "shut down"
        else:
            message = f"destroyed: the guest did not shut down within {self._shutdown_timeout:g} s"
        LOG.info("domain %s %s", name, message)
        return self._shutoff(server, message)

    def _reboot(self, server: Server, devices: list[PciDevice]) -> DomainReport:
        name = domain_name(server["id"])
        kind = str(server.get("reboot", "HARD")).upper()
        if kind not in REBOOT_TYPES:
            raise ValueError(f"reboot type {kind!r} is not one of {REBOOT_TYPES}")
        xml = render(server, devices)  # before stopping: a bad spec leaves the guest running
        message = f"rebooted ({kind})"
        if kind == "HARD":
            self._hypervisor.destroy(name)
        elif not self._hypervisor.shutdown(name, self._shutdown_timeout):
            message += f"; the guest did not shut down within {self._shutdown_timeout:g} s"
        xml = self._hypervisor.define_and_start(xml)
        LOG.info("domain %s %s", name, message)
        return DomainReport(server["id"], "running", message, xml)

    def _replug(
        self, server: Server, devices: list[PciDevice], current: str, plugged: set[str],
        wanted: set[str],
    ) -> DomainReport:  # fmt: skip
        name = domain_name(server["id"])
        added, removed = sorted(wanted - plugged), sorted(plugged - wanted)
        changes = _changes(added, removed)
        desired_xml = render(server, devices)
        plugs = {plug.port_id: plug for plug in _plugs(server, devices)}
        try:
            self._hotplug(name, current, [plugs[p] for p in added], removed)
        except HotplugUnsupported as exc:
            self._hypervisor.destroy(name)
            xml = self._hypervisor.define_and_start(desired_xml)
            message = f"interfaces changed by restarting the domain ({exc}): {changes}"
            LOG.info("domain %s: %s", name, message)
            return DomainReport(server["id"], "running", message, xml)
        message = f"interfaces changed by hot-plug: {changes}"
        LOG.info("domain %s: %s", name, message)
        return DomainReport(server["id"], "running", message, self._hypervisor.domain_xml(name))

    def _hotplug(self, name: str, current: str, added: list[VifPlug], removed: list[str]) -> None:
        """Detach, then attach; afterwards the metadata names what is plugged now."""
        changed, attached = False, []
        try:
            for port_id in removed:
                element = device_xml(current, port_id)
                if element is not None:
                    self._hypervisor.detach_device(name, element)
                    changed = True
            for plug in added:
                self._hypervisor.attach_device(name, render_plug_xml(plug))
                changed = True
                attached.append(metadata_port(plug))
        finally:
            live = self._hypervisor.domain_xml(name) if changed else None
            if live is not None:
                metadata = refreshed_metadata(live, attached)
                self._hypervisor.set_metadata(name, METADATA_NS, METADATA_KEY, metadata)
