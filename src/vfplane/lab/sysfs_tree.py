"""Write realistic sysfs trees of SR-IOV NICs for simulated hosts and tests.

The layout follows real hosts: devices live under ``sys/devices/pciDDDD:BB/<root
port>/<BDF>``; ``sys/bus/pci/devices/<BDF>`` and ``sys/class/net/<if>`` are relative
symlinks into it; ``driver``, ``iommu_group``, ``physfn`` and ``virtfnN`` are relative
links; VFs bound to vfio-pci have no ``net/``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.errors import VfplaneError
from vfplane.lab.profiles import PROFILES, HardwareProfile

ETHERNET_CLASS = "0x020000"
BRIDGE_CLASS = "0x060400"
VFIO_DRIVER = "vfio-pci"
_FIRST_ROOT_BUS = 0x3A


class LabError(VfplaneError):
    """A lab tree cannot be written as asked."""


@dataclass(frozen=True)
class _Function:
    """What one PCI function directory holds, before it is written."""

    address: PciAddress
    vendor_id: str
    product_id: str
    numa_node: int
    driver: str | None
    subsystem_vendor: str
    subsystem_device: str
    pci_class: str = ETHERNET_CLASS


def _mac(prefix: str, address: PciAddress, salt: str = "") -> str:
    digest = hashlib.blake2b(f"{address}{salt}".encode(), digest_size=6).digest()
    octets = prefix.split(":") + [f"{b:02x}" for b in digest]
    return ":".join(octets[:6])


def _relative(target: Path, link: Path) -> str:
    return os.path.relpath(target, link.parent)


def _symlink(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(_relative(target, link))


class LabSysfs:
    """A generated host filesystem root whose ``sys/`` looks like a real one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sys = root / "sys"

    @property
    def _pci_devices(self) -> Path:
        return self.sys / "bus" / "pci" / "devices"

    def add_card(
        self,
        profile: HardwareProfile,
        *,
        pfs: int,
        vfs: int,
        numa_nodes: Sequence[int] = (0,),
        vfio_vfs: int = 0,
        domain: int = 0,
    ) -> list[PciDevice]:
        """Add ``pfs`` PFs (as many cards as needed) with ``vfs`` VFs each."""
        self._check_request(profile, pfs, vfs, vfio_vfs)
        devices: list[PciDevice] = []
        for first in range(0, pfs, profile.ports):
            ports = min(profile.ports, pfs - first)
            nodes = [numa_nodes[min(i, len(numa_nodes) - 1)] for i in range(first, first + ports)]
            devices.extend(self._add_one_card(profile, ports, vfs, nodes, vfio_vfs, domain))
        return devices

    @staticmethod
    def _check_request(profile: HardwareProfile, pfs: int, vfs: int, vfio_vfs: int) -> None:
        if pfs < 1:
            raise LabError(f"--pfs must be at least 1, got {pfs}")
        if not 0 <= vfs <= profile.total_vfs:
            raise LabError(
                f"{profile.title} supports 0 to {profile.total_vfs} VFs per PF, asked for {vfs}"
            )
        if not 0 <= vfio_vfs <= vfs:
            raise LabError(f"--vfio-vfs must be between 0 and --vfs ({vfs}), got {vfio_vfs}")

    def _add_one_card(
        self,
        profile: HardwareProfile,
        ports: int,
        vfs: int,
        numa_nodes: list[int],
        vfio_vfs: int,
        domain: int,
    ) -> list[PciDevice]:
        root_bus = self._free_bus(domain)
        buses_needed = 1 + (profile.routing_ids_used() - 1) // 256
        if root_bus + buses_needed > 0xFF:
            raise LabError(f"PCI domain {domain:04x} has no free bus left for another card")
        root_port = PciAddress(domain, root_bus, 0, 0)
        port_dir = self.sys / "devices" / f"pci{domain:04x}:{root_bus:02x}" / str(root_port)
        self._write_function(
            port_dir,
            _Function(
                root_port, "8086", "2030", numa_nodes[0], "pcieport", "8086", "0000", BRIDGE_CLASS
            ),
        )
        card = self._next_card_number()
        devices: list[PciDevice] = []
        for port in range(ports):
            pf = PciAddress(domain, root_bus + 1, 0, port)
            pf_device = self._write_pf(port_dir / str(pf), profile, pf, card, numa_nodes[port])
            devices.append(replace(pf_device, sriov_numvfs=vfs))
            devices.extend(self.set_numvfs(pf, vfs, vfio_vfs=vfio_vfs))
        return devices

    def _write_pf(
        self, path: Path, profile: HardwareProfile, pf: PciAddress, card: int, numa_node: int
    ) -> PciDevice:
        port = pf.function
        function = _Function(
            pf,
            profile.vendor_id,
            profile.pf_product_id,
            numa_node,
            profile.pf_driver,
            profile.vendor_id,
            profile.subsystem_device,
        )
        iommu_group = self._write_function(path, function)
        files = {
            "sriov_totalvfs": str(profile.total_vfs),
            "sriov_numvfs": "0",
            "sriov_offset": str(profile.vf_offset(port)),
            "sriov_stride": str(profile.vf_stride),
            "sriov_vf_device": profile.vf_product_id,
            "sriov_drivers_autoprobe": "1",
        }
        for name, value in files.items():
            (path / name).write_text(value + "\n")
        ifname = profile.pf_ifname(card, port)
        mac = _mac(profile.mac_prefix, pf)
        self._write_netdev(path, ifname, mac, f"p{port}" if profile.phys_port_names else None)
        return PciDevice(
            address=pf, vendor_id=profile.vendor_id, product_id=profile.pf_product_id,
            dev_type=DeviceType.PF, numa_node=_numa(numa_node), driver=profile.pf_driver,
            ifname=ifname, mac=mac, iommu_group=iommu_group,
            sriov_totalvfs=profile.total_vfs, sriov_numvfs=0,
        )  # fmt: skip

    def set_numvfs(self, pf: PciAddress, count: int, *, vfio_vfs: int = 0) -> list[PciDevice]:
        """Create ``count`` VFs of ``pf`` (after removing any it has), as the kernel would."""
        pf_dir = self._device_dir(pf)
        self.remove_vfs(pf)
        if count == 0:
            return []
        profile = self.profile_of(pf)
        offset = int((pf_dir / "sriov_offset").read_text())
        stride = int((pf_dir / "sriov_stride").read_text())
        numa_node = int((pf_dir / "numa_node").read_text())
        pf_ifname = _first_netdev(pf_dir)
        devices = []
        for index in range(count):
            vf = PciAddress.from_routing_id(pf.domain, pf.routing_id + offset + index * stride)
            vfio = index < vfio_vfs
            devices.append(
                self._write_vf(pf_dir, profile, pf, pf_ifname, vf, index, numa_node, vfio)
            )
        (pf_dir / "sriov_numvfs").write_text(f"{count}\n")
        return devices

    def _write_vf(
        self,
        pf_dir: Path,
        profile: HardwareProfile,
        pf: PciAddress,
        pf_ifname: str | None,
        vf: PciAddress,
        index: int,
        numa_node: int,
        vfio: bool,
    ) -> PciDevice:
        vf_dir = pf_dir.parent / str(vf)
        driver = VFIO_DRIVER if vfio else profile.vf_driver
        function = _Function(
            vf,
            profile.vendor_id,
            profile.vf_product_id,
            numa_node,
            driver,
            profile.vendor_id,
            profile.subsystem_device,
        )
        iommu_group = self._write_function(vf_dir, function)
        _symlink(vf_dir / "physfn", pf_dir)
        _symlink(pf_dir / f"virtfn{index}", vf_dir)
        ifname = mac = None
        if not vfio:
            base = re.sub(r"np\d+$", "", pf_ifname) if pf_ifname else _pci_ifname(pf)
            ifname, mac = f"{base}v{index}", _mac("02", vf, salt="vf")
            self._write_netdev(vf_dir, ifname, mac, None)
        return PciDevice(
            address=vf, vendor_id=profile.vendor_id, product_id=profile.vf_product_id,
            dev_type=DeviceType.VF, parent_addr=pf, numa_node=_numa(numa_node), driver=driver,
            ifname=ifname, pf_ifname=pf_ifname, vf_index=index, mac=mac, iommu_group=iommu_group,
        )  # fmt: skip

    def remove_vfs(self, pf: PciAddress) -> None:
        pf_dir = self._device_dir(pf)
        for link in sorted(pf_dir.glob("virtfn*")):
            vf_dir = link.resolve()
            self._remove_function(vf_dir)
            link.unlink()
        (pf_dir / "sriov_numvfs").write_text("0\n")

    def profile_of(self, pf: PciAddress) -> HardwareProfile:
        pf_dir = self._device_dir(pf)
        ids = (_read_id(pf_dir / "vendor"), _read_id(pf_dir / "device"))
        for profile in PROFILES.values():
            if (profile.vendor_id, profile.pf_product_id) == ids:
                return profile
        raise LabError(f"{pf} ({ids[0]}:{ids[1]}) is not a PF of a known hardware profile")

    def write_topology(self, vcpus: int, memory_mb: int, numa_nodes: int) -> None:
        """CPUs and memory split evenly over ``numa_nodes`` nodes, as sysfs and /proc show them."""
        if vcpus < numa_nodes or numa_nodes < 1:
            raise LabError(f"{vcpus} vCPUs cannot be spread over {numa_nodes} NUMA nodes")
        system = self.sys / "devices" / "system"
        (system / "cpu").mkdir(parents=True, exist_ok=True)
        (system / "cpu" / "online").write_text(f"0-{vcpus - 1}\n")
        per_node_cpus, per_node_kb = vcpus // numa_nodes, memory_mb * 1024 // numa_nodes
        for node in range(numa_nodes):
            node_dir = system / "node" / f"node{node}"
            node_dir.mkdir(parents=True, exist_ok=True)
            first = node * per_node_cpus
            last = vcpus - 1 if node == numa_nodes - 1 else first + per_node_cpus - 1
            (node_dir / "cpulist").write_text(f"{first}-{last}\n")
            (node_dir / "meminfo").write_text(f"Node {node} MemTotal:       {per_node_kb} kB\n")
        (self.root / "proc").mkdir(parents=True, exist_ok=True)
        (self.root / "proc" / "meminfo").write_text(f"MemTotal:       {memory_mb * 1024} kB\n")

    def _device_dir(self, address: PciAddress) -> Path:
        link = self._pci_devices / str(address)
        if not link.is_dir():
            raise LabError(f"no PCI device {address} under {self._pci_devices}")
        return link.resolve()

    def _write_function(self, path: Path, function: _Function) -> int:
        """Write one function's files and links; returns its IOMMU group."""
        path.mkdir(parents=True, exist_ok=True)
        address = str(function.address)
        files = {
            "vendor": f"0x{function.vendor_id}",
            "device": f"0x{function.product_id}",
            "class": function.pci_class,
            "subsystem_vendor": f"0x{function.subsystem_vendor}",
            "subsystem_device": f"0x{function.subsystem_device}",
            "numa_node": str(function.numa_node),
            "driver_override": "(null)",
            "uevent": "\n".join(
                [
                    f"DRIVER={function.driver}" if function.driver else "",
                    f"PCI_CLASS={int(function.pci_class, 16):X}",
                    f"PCI_ID={function.vendor_id.upper()}:{function.product_id.upper()}",
                    f"PCI_SUBSYS_ID={function.subsystem_vendor.upper()}:"
                    f"{function.subsystem_device.upper()}",
                    f"PCI_SLOT_NAME={address}",
                ]
            ).lstrip(),
        }
        for name, value in files.items():
            (path / name).write_text(value + "\n")
        _symlink(self._pci_devices / address, path)
        if function.driver:
            driver_dir = self.sys / "bus" / "pci" / "drivers" / function.driver
            _symlink(path / "driver", driver_dir)
            _symlink(driver_dir / address, path)
        group = self._next_iommu_group()
        group_dir = self.sys / "kernel" / "iommu_groups" / str(group)
        _symlink(path / "iommu_group", group_dir)
        _symlink(group_dir / "devices" / address, path)
        return group

    def _remove_function(self, path: Path) -> None:
        address = path.name
        for net in (path / "net").glob("*") if (path / "net").is_dir() else []:
            (self.sys / "class" / "net" / net.name).unlink(missing_ok=True)
        driver = path / "driver"
        if driver.is_symlink():
            (driver.resolve() / address).unlink(missing_ok=True)
        group = path / "iommu_group"
        if group.is_symlink():
            shutil.rmtree(group.resolve(), ignore_errors=True)
        (self._pci_devices / address).unlink(missing_ok=True)
        shutil.rmtree(path)

    def _write_netdev(self, device_dir: Path, ifname: str, mac: str, port_name: str | None) -> None:
        net_dir = device_dir / "net" / ifname
        net_dir.mkdir(parents=True, exist_ok=True)
        files = {"address": mac, "operstate": "up", "carrier": "1", "mtu": "1500", "type": "1"}
        if port_name:
            files["phys_port_name"] = port_name
        for name, value in files.items():
            (net_dir / name).write_text(value + "\n")
        (net_dir / "device").unlink(missing_ok=True)
        (net_dir / "device").symlink_to(Path("../../..") / device_dir.name)
        _symlink(self.sys / "class" / "net" / ifname, net_dir)

    def _free_bus(self, domain: int) -> int:
        """The bus after every bus in use, counting the VF buses PFs may still fill."""
        last_bus = _FIRST_ROOT_BUS - 1
        links = sorted(self._pci_devices.glob("*")) if self._pci_devices.is_dir() else []
        for link in links:
            address = PciAddress.parse(link.name)
            if address.domain != domain:
                continue
            last_rid = address.routing_id
            total = link / "sriov_totalvfs"
            if total.exists():
                offset = int((link / "sriov_offset").read_text())
                stride = int((link / "sriov_stride").read_text())
                last_rid += offset + (int(total.read_text()) - 1) * stride
            last_bus = max(last_bus, last_rid >> 8)
        return last_bus + 1

    def _next_iommu_group(self) -> int:
        groups_dir = self.sys / "kernel" / "iommu_groups"
        groups = [int(p.name) for p in groups_dir.glob("*")] if groups_dir.is_dir() else []
        return max(groups, default=-1) + 1

    def _next_card_number(self) -> int:
        net_dir = self.sys / "class" / "net"
        names = [p.name for p in net_dir.glob("*")] if net_dir.is_dir() else []
        cards = [int(m[1]) for n in names if (m := re.match(r"ens(\d+)f", n))]
        return max(cards, default=0) + 1


def _numa(node: int) -> int | None:
    return None if node < 0 else node


def _read_id(path: Path) -> str:
    return path.read_text().strip().removeprefix("0x")


def _first_netdev(device_dir: Path) -> str | None:
    net = device_dir / "net"
    names = sorted(p.name for p in net.iterdir()) if net.is_dir() else []
    return names[0] if names else None


def _pci_ifname(address: PciAddress) -> str:
    return f"enp{address.bus}s{address.slot}f{address.function}"
