"""A host's devices grouped into pools of free devices, with the PF/VF dependency.

Pools follow Nova's ``PciDeviceStats`` keys: vendor, product, NUMA node,
dev_type, tags, and the parent PF address (a device's own address when it has
no parent), so VFs pool per PF and every PF is a pool of its own. A device is
free when its status is ``available`` and its family allows it: a VF whose PF
is claimed or allocated is not free, and neither is a PF with any VF in use.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from vfplane.domain.device_states import DeviceStatus
from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.errors import DeviceInvalidStatus

IGNORED_TAGS = frozenset({"resource_class", "traits", "rp_uuid", "rp_uuids"})
_IN_USE = frozenset({DeviceStatus.CLAIMED, DeviceStatus.ALLOCATED})
_FAMILY_BLOCKED = frozenset({DeviceStatus.UNCLAIMABLE, DeviceStatus.UNAVAILABLE})
_GONE = frozenset({DeviceStatus.REMOVED, DeviceStatus.DELETED})
_DEFAULT_REMOTE_MANAGED = frozenset({DeviceType.PF, DeviceType.VF})

PropValue = str | int | None


@dataclass(frozen=True, slots=True)
class SchedDevice:
    """What the scheduler needs to know about one device of a host."""

    address: PciAddress
    vendor_id: str
    product_id: str
    dev_type: DeviceType
    parent_addr: PciAddress | None = None
    numa_node: int | None = None
    tags: Mapping[str, str | None] = field(default_factory=dict)
    status: DeviceStatus = DeviceStatus.AVAILABLE
    netdev: str | None = None  # a VF bound to vfio-pci has none, and cannot back macvtap

    @classmethod
    def from_device(
        cls, device: PciDevice, status: DeviceStatus = DeviceStatus.AVAILABLE
    ) -> SchedDevice:
        return cls(
            address=device.address,
            vendor_id=device.vendor_id,
            product_id=device.product_id,
            dev_type=device.dev_type,
            parent_addr=device.parent_addr,
            numa_node=device.numa_node,
            tags=device.tags,
            status=status,
            netdev=device.ifname,
        )

    @property
    def physical_network(self) -> str | None:
        return self.tags.get("physical_network")


@dataclass(frozen=True, slots=True)
class HostCandidate:
    """A host as the scheduler sees it.

    ``numa_sockets`` maps NUMA node to socket for the ``socket`` policy; without
    it every NUMA node counts as a socket of its own.
    """

    name: str
    vcpus: int
    memory_mb: int
    vcpus_used: int = 0
    memory_mb_used: int = 0
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    numa_nodes: tuple[int, ...] = ()
    devices: tuple[SchedDevice, ...] = ()
    numa_sockets: Mapping[int, int] | None = None

    def socket_of(self, node: int) -> int | None:
        if self.numa_sockets is None:
            return node
        return self.numa_sockets.get(node)


class Pool:
    """Devices with equal pool keys; ``free`` is kept sorted by address."""

    __slots__ = (
        "address",
        "dev_type",
        "free",
        "numa_node",
        "position",
        "props",
        "signature",
        "tags",
        "total",
        "usable",
    )

    def __init__(self, device: SchedDevice, props: Mapping[str, PropValue]) -> None:
        self.props = props
        self.signature: Signature = tuple(sorted(props.items()))
        self.tags: Mapping[str, str | None] = MappingProxyType(
            {k: v for k, v in device.tags.items() if k not in IGNORED_TAGS}
        )
        self.dev_type = device.dev_type
        self.numa_node = device.numa_node
        self.address = device.parent_addr or device.address
        self.free: list[PciAddress] = []
        self.total = 0
        self.usable = 0
        self.position = 0

    def sort_key(self) -> tuple[int, PciAddress, str, int]:
        """Fewest tags first (as Nova consumes them), then lowest address."""
        node = -1 if self.numa_node is None else self.numa_node
        return (len(self.props), self.address, self.dev_type.value, node)

    def clone(self) -> Pool:
        copy = Pool.__new__(Pool)
        for name in Pool.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.free = list(self.free)
        return copy


HAS_NETDEV = "has_netdev"  # macvtap asks for it: the guest's interface sits on the VF's netdev


Signature = tuple[tuple[str, PropValue], ...]  # a pool's props, hashable: equal pools match alike


def pool_props(device: SchedDevice) -> dict[str, PropValue]:
    """The pool key of a device, strings lower-cased for Nova's case-insensitive match."""
    props: dict[str, PropValue] = {
        "vendor_id": device.vendor_id.lower(),
        "product_id": device.product_id.lower(),
        "numa_node": device.numa_node,
        "dev_type": device.dev_type.value.lower(),
        "address": str(device.parent_addr or device.address),
        HAS_NETDEV: "true" if device.netdev else "false",
    }
    for key, value in device.tags.items():
        if key not in IGNORED_TAGS:
            props[key] = value.lower() if isinstance(value, str) else value
    if device.dev_type in _DEFAULT_REMOTE_MANAGED and props.get("remote_managed") is None:
        props["remote_managed"] = "false"
    return props


class HostIndex:
    """A host's pools, built once per snapshot and updated by ``take``/``give``."""

    __slots__ = (
        "_busy_children", "_children", "_devices", "_free", "_pool_of", "_status", "changes",
        "host", "memory_mb_used", "pools", "vcpus_used",
    )  # fmt: skip

    def __init__(self, host: HostCandidate) -> None:
        self.host = host
        self.vcpus_used = host.vcpus_used
        self.memory_mb_used = host.memory_mb_used
        self.changes = 0  # take and give count here: what was read of this index may be stale
        self._devices = {d.address: d for d in host.devices}
        self._status = {d.address: d.status for d in host.devices}
        self._children: dict[PciAddress, list[PciAddress]] = {}
        self._busy_children: dict[PciAddress, int] = {}
        for device in host.devices:
            parent = device.parent_addr
            if parent is not None and parent in self._devices:
                self._children.setdefault(parent, []).append(device.address)
                if _busy(device.status):
                    self._busy_children[parent] = self._busy_children.get(parent, 0) + 1
        self._pool_of: dict[PciAddress, Pool] = {}
        self._free: set[PciAddress] = set()
        self.pools: tuple[Pool, ...] = self._build_pools()

    def _build_pools(self) -> tuple[Pool, ...]:
        by_key: dict[tuple[object, ...], Pool] = {}
        for address, device in self._devices.items():
            if device.status in _GONE:
                continue
            tags = device.tags
            key = (
                device.vendor_id.lower(),
                device.product_id.lower(),
                device.numa_node,
                device.dev_type,
                device.parent_addr or address,
                tuple(sorted(tags.items())) if len(tags) > 1 else tuple(tags.items()),
                device.netdev is not None,
            )
            pool = by_key.get(key)
            if pool is None:
                pool = by_key[key] = Pool(device, pool_props(device))
            pool.total += 1
            pool.usable += device.status is DeviceStatus.AVAILABLE
            self._pool_of[address] = pool
            if self._is_free(address):
                pool.free.append(address)
                self._free.add(address)
        pools = sorted(by_key.values(), key=Pool.sort_key)
        for position, pool in enumerate(pools):
            pool.position = position
            pool.free.sort()
        return tuple(pools)

    @property
    def name(self) -> str:
        return self.host.name

    def fingerprint(self) -> Hashable:
        """What a fit depends on, without names and addresses: hosts with equal fingerprints
        fit or fail any boot alike, so a catalog need examine one of them to refuse all."""
        host = self.host
        sockets = tuple(sorted(host.numa_sockets.items())) if host.numa_sockets else None
        pools = tuple((p.signature, len(p.free), p.usable, p.total) for p in self.pools)
        return (host.vcpus, host.memory_mb, host.cpu_allocation_ratio, host.ram_allocation_ratio,
                self.vcpus_used, self.memory_mb_used, host.numa_nodes, sockets, pools)  # fmt: skip

    @property
    def free_devices(self) -> int:
        return len(self._free)

    def is_free(self, address: PciAddress) -> bool:
        return address in self._free

    def status(self, address: PciAddress) -> DeviceStatus:
        return self._status[address]

    def device(self, address: PciAddress) -> SchedDevice:
        return self._devices[address]

    def take(self, addresses: Iterable[PciAddress], vcpus: int = 0, memory_mb: int = 0) -> None:
        """Mark free devices claimed, as a claim does; their PF or VFs stop being free."""
        self.changes += 1
        for address in addresses:
            if address not in self._free:
                state = self._status.get(address)
                what = "not on this host" if state is None else f"not free ({state.value})"
                raise DeviceInvalidStatus(
                    f"cannot take PCI device {address} on {self.name}: it is {what}"
                )
            self._set_status(address, DeviceStatus.CLAIMED)
            for relative in self._family(address):
                if self._status[relative] is DeviceStatus.AVAILABLE:
                    self._set_status(relative, DeviceStatus.UNCLAIMABLE)
            self._refresh(address)
        self.vcpus_used += vcpus
        self.memory_mb_used += memory_mb

    def give(self, addresses: Iterable[PciAddress], vcpus: int = 0, memory_mb: int = 0) -> None:
        """Free claimed or allocated devices; a PF comes back when all its VFs are free."""
        self.changes += 1
        for address in addresses:
            state = self._status.get(address)
            if state not in _IN_USE:
                what = "not on this host" if state is None else f"{state.value}, not in use"
                raise DeviceInvalidStatus(
                    f"cannot give back PCI device {address} on {self.name}: it is {what}"
                )
            self._set_status(address, DeviceStatus.AVAILABLE)
            if self._devices[address].dev_type is DeviceType.PF:
                for child in self._children.get(address, ()):
                    if self._status[child] in _FAMILY_BLOCKED:
                        self._set_status(child, DeviceStatus.AVAILABLE)
            else:
                self._release_parent(address)
            self._refresh(address)
        self.vcpus_used -= vcpus
        self.memory_mb_used -= memory_mb

    def clone(self) -> HostIndex:
        """An independent copy for trying consumption (pools copied, devices shared)."""
        copy = HostIndex.__new__(HostIndex)
        copy.host = self.host
        copy.vcpus_used = self.vcpus_used
        copy.memory_mb_used = self.memory_mb_used
        copy.changes = 0
        copy._devices = self._devices
        copy._children = self._children
        copy._status = dict(self._status)
        copy._busy_children = dict(self._busy_children)
        copy.pools = tuple(pool.clone() for pool in self.pools)
        copy._pool_of = {a: copy.pools[p.position] for a, p in self._pool_of.items()}
        copy._free = set(self._free)
        return copy

    def updated(self, host: HostCandidate) -> HostIndex:
        """The index of ``host``: a newer snapshot of this host, or another host of the same
        hardware layout. When its devices differ from these only in status (claims, frees)
        the pools are copied and moved; otherwise they are built again."""
        olds, news = self.host.devices, host.devices
        if len(olds) != len(news):
            return HostIndex(host)
        changed: list[SchedDevice] = []
        for old, new in zip(olds, news, strict=True):
            if old is not new and old != new:
                if not _same_but_status(old, new):
                    return HostIndex(host)
                changed.append(new)
        copy = self.clone()
        copy.host, copy.vcpus_used, copy.memory_mb_used = host, host.vcpus_used, host.memory_mb_used
        if changed:
            copy._devices = {d.address: d for d in news}
            for device in changed:
                copy._set_status(device.address, device.status)
            for device in changed:
                copy._refresh(device.address)
        return copy

    def _family(self, address: PciAddress) -> list[PciAddress]:
        children = self._children.get(address)
        if children is not None:
            return children
        parent = self._devices[address].parent_addr
        return [parent] if parent is not None and parent in self._devices else []

    def _release_parent(self, address: PciAddress) -> None:
        parent = self._devices[address].parent_addr
        if parent is None or self._status.get(parent) not in _FAMILY_BLOCKED:
            return
        if self._busy_children.get(parent, 0) == 0:
            self._set_status(parent, DeviceStatus.AVAILABLE)

    def _set_status(self, address: PciAddress, status: DeviceStatus) -> None:
        old = self._status[address]
        self._status[address] = status
        parent = self._devices[address].parent_addr
        if parent is not None and parent in self._children:
            self._busy_children[parent] = (
                self._busy_children.get(parent, 0) + _busy(status) - _busy(old)
            )
        pool = self._pool_of.get(address)
        if pool is not None:
            pool.usable += (status is DeviceStatus.AVAILABLE) - (old is DeviceStatus.AVAILABLE)

    def _is_free(self, address: PciAddress) -> bool:
        if self._status[address] is not DeviceStatus.AVAILABLE:
            return False
        device = self._devices[address]
        if device.dev_type is DeviceType.PF:
            return self._busy_children.get(address, 0) == 0
        parent = device.parent_addr
        return parent is None or self._status.get(parent) not in _IN_USE

    def _refresh(self, address: PciAddress) -> None:
        for each in (address, *self._family(address)):
            pool = self._pool_of.get(each)
            if pool is None:
                continue
            free = self._is_free(each)
            if free and each not in self._free:
                insort(pool.free, each)
                self._free.add(each)
            elif not free and each in self._free:
                del pool.free[bisect_left(pool.free, each)]
                self._free.discard(each)


def _same_but_status(old: SchedDevice, new: SchedDevice) -> bool:
    return (old.address, old.vendor_id, old.product_id, old.dev_type, old.parent_addr,
            old.numa_node, old.tags, old.netdev) == (new.address, new.vendor_id, new.product_id,
            new.dev_type, new.parent_addr, new.numa_node, new.tags, new.netdev)  # fmt: skip


def _busy(status: DeviceStatus) -> bool:
    return status is not DeviceStatus.AVAILABLE and status not in _GONE
