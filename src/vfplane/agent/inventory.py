"""What the agent reports about its host: topology and the devices device_spec selects."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from vfplane.domain.device_mappings import DeviceMappings, parse_device_mappings
from vfplane.domain.devspec import parse_device_spec
from vfplane.domain.inventory import build_inventory
from vfplane.domain.pci import PciDevice
from vfplane.host.sysfs import SysfsReader
from vfplane.host.topology import read_topology
from vfplane.settings import AgentSettings, PciSettings


@dataclass(frozen=True)
class HostInventory:
    """One scan: the registration body, the selected devices, and what looked odd."""

    report: dict[str, Any]
    devices: tuple[PciDevice, ...]
    mappings: DeviceMappings
    problems: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.report, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def device_body(device: PciDevice) -> dict[str, Any]:
    return {
        "address": str(device.address),
        "vendor_id": device.vendor_id,
        "product_id": device.product_id,
        "dev_type": device.dev_type.value,
        "parent_addr": str(device.parent_addr) if device.parent_addr else None,
        "numa_node": device.numa_node,
        "driver": device.driver,
        "ifname": device.ifname,
        "pf_ifname": device.pf_ifname,
        "vf_index": device.vf_index,
        "mac": device.mac,
        "iommu_group": device.iommu_group,
        "physical_network": device.physical_network,
        "tags": dict(device.tags),
    }


def scan_host(agent: AgentSettings, pci: PciSettings) -> HostInventory:
    """Read sysfs under ``agent.sysfs_root`` and keep what device_spec selects."""
    reader = SysfsReader(agent.sysfs_root)
    specs = parse_device_spec(pci.device_spec, reader)
    mappings = parse_device_mappings(agent.physical_device_mappings, agent.exclude_devices)
    scan = reader.scan()
    inventory = build_inventory(scan.devices, specs, reader, mappings)
    selected = tuple(inventory.selected())
    topology = read_topology(agent.sysfs_root)
    report = {
        "vcpus": agent.vcpus or topology.vcpus,
        "memory_mb": agent.memory_mb or topology.memory_mb,
        "numa_topology": [
            {"id": n.id, "cpus": list(n.cpus), "memory_mb": n.memory_mb} for n in topology.nodes
        ],
        "configurations": {
            "device_mappings": {k: list(v) for k, v in mappings.physnets.items()},
            "libvirt_uri": agent.libvirt_uri,
            "pending_pfs": [str(p.address) for p in scan.pending],
        },
        "devices": [device_body(d) for d in selected],
    }
    problems = (*specs.warnings, *scan.problems)
    return HostInventory(report, selected, mappings, problems)
