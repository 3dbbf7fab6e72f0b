"""The agent's domains: render each desired server from its bindings, define and start it,
and remove the domains of servers that are gone. Level-triggered like the VFs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vfplane.domain.networks import VifType, VnicType
from vfplane.domain.pci import PciAddress, PciDevice
from vfplane.errors import VfplaneError
from vfplane.host.hypervisor import Hypervisor
from vfplane.virt.xml import PciPassthrough, VifPlug, render_domain

LOG = logging.getLogger(__name__)
PREFIX = "vfplane-"
DEFAULT_BRIDGE = "vfbr0"


@dataclass(frozen=True)
class DomainReport:
    server_id: str
    state: str  # running | shutoff | error
    message: str = ""
    xml: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.server_id, "state": self.state, "message": self.message,
                "xml": self.xml}  # fmt: skip


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


def render(server: Mapping[str, Any], devices: Iterable[PciDevice]) -> str:
    netdevs = {d.address: d.ifname for d in devices}
    plugs = [_plug(i, netdevs) for i in server["interfaces"]]
    hostdevs = [PciPassthrough(PciAddress.parse(h["address"]), bool(h.get("managed", True)))
                for h in server["hostdevs"]]  # fmt: skip
    image = server.get("image_location") or "/var/lib/vfplane/images/none.qcow2"
    return render_domain(domain_name(server["id"]), server["id"], int(server["vcpus"]),
                         int(server["memory_mb"]), image, plugs, hostdevs)  # fmt: skip


class DomainReconciler:
    def __init__(self, hypervisor: Hypervisor) -> None:
        self._hypervisor = hypervisor

    def remove_gone(self, desired: Sequence[Mapping[str, Any]]) -> None:
        wanted = {domain_name(s["id"]) for s in desired}
        for name in self._hypervisor.list_domains():
            if name.startswith(PREFIX) and name not in wanted:
                try:
                    self._hypervisor.destroy_and_undefine(name)
                    LOG.info("domain %s removed", name)
                except VfplaneError as exc:
                    LOG.warning("cannot remove domain %s: %s", name, exc)

    def start_desired(
        self, desired: Sequence[Mapping[str, Any]], devices: Iterable[PciDevice]
    ) -> list[DomainReport]:
        devices = list(devices)
        reports = []
        for server in desired:
            name = domain_name(server["id"])
            try:
                if self._hypervisor.is_running(name):
                    xml = self._hypervisor.domain_xml(name)
                else:
                    xml = self._hypervisor.define_and_start(render(server, devices))
                    LOG.info("domain %s started", name)
                reports.append(DomainReport(server["id"], "running", xml=xml))
            except (VfplaneError, ValueError) as exc:
                reports.append(DomainReport(server["id"], "error", message=str(exc)))
        return reports
