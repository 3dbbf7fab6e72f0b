"""Read a host's network PCI devices, PFs and VFs from sysfs.

The root is injectable: ``SysfsReader(Path("/"))`` reads the real host,
``SysfsReader(tmp)`` a tree written by ``vfplane.lab``. The reader copes with what
real hosts do: VFs without netdevs (vfio-pci), VFs still appearing after a
``sriov_numvfs`` write, devices vanishing mid-scan, unreadable files and VFs whose
PF has no netdev. Problems are reported, never raised, except a missing sysfs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.errors import InvalidPciAddress, SysfsError

NETWORK_CLASS_PREFIX = 0x02
_VIRTFN_RE = re.compile(r"^virtfn(\d+)$")
_REPRESENTOR_PORT_RE = re.compile(r"^pf\d+(vf\d+|sf\d+)?$")
_IFNAME_RE = re.compile(r"^[^/\s]{1,15}$")


@dataclass(frozen=True)
class PendingPf:
    """A PF whose ``sriov_numvfs`` is ahead of the ``virtfn*`` links present."""

    address: PciAddress
    numvfs: int
    present: int


@dataclass(frozen=True)
class SysfsScan:
    devices: tuple[PciDevice, ...]
    problems: tuple[str, ...] = ()
    pending: tuple[PendingPf, ...] = ()

    def by_address(self) -> dict[PciAddress, PciDevice]:
        return {d.address: d for d in self.devices}


class _Vanished(Exception):
    """The device directory disappeared while it was read."""


@dataclass
class _PfFacts:
    """What the VFs of one PF need from it: VF indexes and the PF's netdev."""

    vf_index: Mapping[PciAddress, int] = field(default_factory=dict)
    ifname: str | None = None


class SysfsReader:
    """Reads ``<root>/sys``; also answers device_spec's questions (``PciFacts``)."""

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self._devices_dir = root / "sys" / "bus" / "pci" / "devices"
        self._net_dir = root / "sys" / "class" / "net"

    def scan(self) -> SysfsScan:
        problems: list[str] = []
        devices: list[PciDevice] = []
        pf_cache: dict[PciAddress, _PfFacts] = {}
        for address in self._list_addresses(problems):
            path = self._devices_dir / str(address)
            try:
                device = self._read_device(address, path, pf_cache, problems)
            except _Vanished:
                problems.append(f"{address}: vanished during the scan; skipped")
                continue
            if device is not None:
                devices.append(device)
        pending = self._pending_pfs(devices, problems)
        return SysfsScan(tuple(devices), tuple(problems), pending)

    def _list_addresses(self, problems: list[str]) -> list[PciAddress]:
        try:
            names = [p.name for p in self._devices_dir.iterdir()]
        except OSError as exc:
            raise SysfsError(
                f"cannot list {self._devices_dir}: {exc.strerror}; is sysfs mounted under "
                f"{self.root}? (use --sysfs-root for a generated lab tree)"
            ) from exc
        addresses = []
        for name in names:
            try:
                addresses.append(PciAddress.parse(name))
            except InvalidPciAddress:
                problems.append(f"{self._devices_dir / name}: not a PCI address; skipped")
        return sorted(addresses)

    def _read_device(
        self,
        address: PciAddress,
        path: Path,
        pf_cache: dict[PciAddress, _PfFacts],
        problems: list[str],
    ) -> PciDevice | None:
        pci_class = _read_required(path, "class", problems)
        if pci_class is None:
            return None
        if _parse_int(pci_class, 16) >> 16 != NETWORK_CLASS_PREFIX:
            return None
        vendor = _read_required(path, "vendor", problems)
        product = _read_required(path, "device", problems)
        if vendor is None or product is None:
            return None
        numa = _read_optional(path, "numa_node", problems)
        totalvfs = _read_optional(path, "sriov_totalvfs", problems)
        parent = _link_address(path / "physfn")
        ifname = _choose_netdev(path / "net")
        base = PciDevice(
            address=address,
            vendor_id=_hex_id(vendor),
            product_id=_hex_id(product),
            dev_type=DeviceType.PCI,
            numa_node=_numa_node(numa),
            driver=_link_name(path / "driver"),
            iommu_group=_iommu_group(path / "iommu_group"),
            ifname=ifname,
            mac=_netdev_mac(path / "net", ifname),
        )
        if totalvfs is not None:
            numvfs = _read_optional(path, "sriov_numvfs", problems)
            return replace(
                base,
                dev_type=DeviceType.PF,
                sriov_totalvfs=_parse_int(totalvfs),
                sriov_numvfs=_parse_int(numvfs) if numvfs is not None else None,
            )
        if parent is not None:
            pf = pf_cache.get(parent)
            if pf is None:
                pf = pf_cache[parent] = _read_pf_facts(path / "physfn")
            return replace(
                base,
                dev_type=DeviceType.VF,
                parent_addr=parent,
                vf_index=pf.vf_index.get(address),
                pf_ifname=pf.ifname,
            )
        return base

    def _pending_pfs(self, devices: list[PciDevice], problems: list[str]) -> tuple[PendingPf, ...]:
        """PFs whose ``virtfn*`` links lag ``sriov_numvfs`` (Neutron bug 1831622)."""
        pending = []
        for device in devices:
            numvfs = device.sriov_numvfs or 0
            if device.dev_type is not DeviceType.PF or numvfs == 0:
                continue
            pf_dir = self._devices_dir / str(device.address)
            links = sum(1 for name in _list_dir(pf_dir) if _VIRTFN_RE.match(name))
            if numvfs > links:
                pending.append(PendingPf(device.address, numvfs, links))
                problems.append(
                    f"{device.address}: sriov_numvfs is {numvfs} but {links} virtfn links "
                    "exist (VFs still appearing?)"
                )
        return tuple(pending)

    # --- PciFacts: what device_spec asks about one device ---

    def sriov_totalvfs(self, address: PciAddress) -> int | None:
        text = _read_text(self._devices_dir / str(address) / "sriov_totalvfs")
        return _parse_int(text) if text is not None else None

    def pci_ids(self, address: PciAddress) -> tuple[str, str] | None:
        path = self._devices_dir / str(address)
        vendor, product = _read_text(path / "vendor"), _read_text(path / "device")
        if vendor is None or product is None:
            return None
        return _hex_id(vendor), _hex_id(product)

    def sriov_vf_device(self, address: PciAddress) -> str | None:
        text = _read_text(self._devices_dir / str(address) / "sriov_vf_device")
        return _hex_id(text) if text is not None else None

    def netdev_address(self, ifname: str) -> PciAddress | None:
        if not _IFNAME_RE.match(ifname) or ifname in {".", ".."}:
            return None
        return _link_address(self._net_dir / ifname / "device")


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _read_required(path: Path, name: str, problems: list[str]) -> str | None:
    try:
        return (path / name).read_text().strip()
    except FileNotFoundError as exc:
        if not path.is_dir():
            raise _Vanished from exc
        problems.append(f"{path.name}: has no {name} file; skipped")
    except (OSError, UnicodeDecodeError) as exc:
        if not path.is_dir():
            raise _Vanished from exc
        problems.append(f"{path.name}: cannot read {name} ({_why(exc)}); skipped")
    return None


def _read_optional(path: Path, name: str, problems: list[str]) -> str | None:
    try:
        text = (path / name).read_text().strip()
    except FileNotFoundError as exc:
        if not path.is_dir():
            raise _Vanished from exc
        return None
    except (OSError, UnicodeDecodeError) as exc:
        if not path.is_dir():
            raise _Vanished from exc
        problems.append(f"{path.name}: cannot read {name} ({_why(exc)}); treated as unknown")
        return None
    if name != "numa_node" and not text.isdigit():
        problems.append(f"{path.name}: {name} is {text!r}, not a number; treated as unknown")
        return None
    return text


def _why(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


def _parse_int(text: str | None, base: int = 10) -> int:
    try:
        return int(text or "", base)
    except ValueError:
        return -1


def _hex_id(text: str) -> str:
    return text.strip().lower().removeprefix("0x").zfill(4)


def _numa_node(text: str | None) -> int | None:
    node = _parse_int(text) if text is not None else -1
    return node if node >= 0 else None


def _link_name(link: Path) -> str | None:
    try:
        return link.readlink().name
    except OSError:
        return None


def _link_address(link: Path) -> PciAddress | None:
    name = _link_name(link)
    if name is None:
        return None
    try:
        return PciAddress.parse(name)
    except InvalidPciAddress:
        return None


def _iommu_group(link: Path) -> int | None:
    name = _link_name(link)
    return int(name) if name is not None and name.isdigit() else None


def _list_dir(path: Path) -> list[str]:
    try:
        return sorted(p.name for p in path.iterdir())
    except OSError:
        return []


def _choose_netdev(net_dir: Path) -> str | None:
    """The device's own netdev; switchdev representors (``pf0vf3``) are not it."""
    names = _list_dir(net_dir)
    own = [
        n
        for n in names
        if not _REPRESENTOR_PORT_RE.match(_read_text(net_dir / n / "phys_port_name") or "")
    ]
    return own[0] if own else None


def _netdev_mac(net_dir: Path, ifname: str | None) -> str | None:
    return _read_text(net_dir / ifname / "address") if ifname else None


def _read_pf_facts(pf_path: Path) -> _PfFacts:
    vf_index: dict[PciAddress, int] = {}
    for name in _list_dir(pf_path):
        match = _VIRTFN_RE.match(name)
        vf = _link_address(pf_path / name) if match else None
        if match and vf is not None:
            vf_index[vf] = int(match[1])
    return _PfFacts(vf_index, _choose_netdev(pf_path / "net"))
