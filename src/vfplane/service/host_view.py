"""The scheduler's picture of every host, kept in the server process between boots.

It is read from the database once; before each decision only the hosts stamped
since (``db/schedule_stamps``) are read again, so a decision costs about the
same at ten hosts and at ten thousand. The picture is never trusted for a
claim: a claim checks every row it changes, and a lost race makes the host be
read again.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from vfplane.db import schedule_stamps
from vfplane.db.compute_tables import Server
from vfplane.db.tables import Host, PciDeviceRecord
from vfplane.domain.device_states import DeviceStatus
from vfplane.domain.pci import DeviceType, PciAddress
from vfplane.domain.scheduling import (
    Decision,
    HostCandidate,
    HostCatalog,
    HostIndex,
    InstanceRequest,
    SchedDevice,
    WeigherConfig,
    schedule,
)

NAMES_PER_QUERY = 500  # bound parameters per IN list, well under every backend's limit
_DEVICE_COLUMNS = tuple(getattr(PciDeviceRecord, name) for name in (
    "host", "address", "vendor_id", "product_id", "dev_type", "parent_addr", "numa_node",
    "tags", "status", "ifname"))  # fmt: skip


@dataclass(frozen=True)
class ComputeConfig:
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    weighers: WeigherConfig = field(default_factory=WeigherConfig)


class _Tags:
    """One shared mapping per distinct set of device tags (a cloud has few)."""

    def __init__(self) -> None:
        self._seen: dict[str, Mapping[str, Any]] = {}

    def __call__(self, tags: Mapping[str, Any] | None) -> Mapping[str, Any]:
        key = repr(sorted((tags or {}).items()))
        return self._seen.setdefault(key, dict(tags or {}))


def _chunks(names: Collection[str] | None) -> Iterator[list[str] | None]:
    if names is None:
        yield None
        return
    ordered = sorted(names)
    for start in range(0, len(ordered), NAMES_PER_QUERY):
        yield ordered[start : start + NAMES_PER_QUERY]


def _sched_device(row: Row[Any], tags: _Tags) -> SchedDevice:
    return SchedDevice(
        address=PciAddress.parse(row.address), vendor_id=row.vendor_id,
        product_id=row.product_id, dev_type=DeviceType(row.dev_type),
        parent_addr=PciAddress.parse(row.parent_addr) if row.parent_addr else None,
        numa_node=row.numa_node, tags=tags(row.tags), status=DeviceStatus(row.status),
        netdev=row.ifname,
    )  # fmt: skip


def _read(
    session: Session, names: list[str] | None, tags: _Tags
) -> tuple[list[Row[Any]], dict[str, list[SchedDevice]], dict[str, tuple[int, int]]]:
    host_query = select(Host.name, Host.vcpus, Host.memory_mb, Host.numa_topology)
    device_query = select(*_DEVICE_COLUMNS)
    used_query = select(Server.host, Server.flavor).where(
        Server.deleted_at.is_(None), Server.host.is_not(None)
    )
    if names is not None:
        host_query = host_query.where(Host.name.in_(names))
        device_query = device_query.where(PciDeviceRecord.host.in_(names))
        used_query = used_query.where(Server.host.in_(names))
    devices: dict[str, list[SchedDevice]] = {}
    for row in session.execute(device_query):
        devices.setdefault(row.host, []).append(_sched_device(row, tags))
    used: dict[str, tuple[int, int]] = {}
    for host, flavor in session.execute(used_query):
        vcpus, memory = used.get(host, (0, 0))
        used[host] = (vcpus + int(flavor.get("vcpus", 0)), memory + int(flavor.get("ram", 0)))
    return list(session.execute(host_query)), devices, used


def load_hosts(
    session: Session, config: ComputeConfig, names: Collection[str] | None = None
) -> list[HostCandidate]:
    """Every host (or those named) with its devices and the capacity in use, by name."""
    tags, hosts = _Tags(), []
    for chunk in _chunks(names):
        rows, devices, used = _read(session, chunk, tags)
        for row in rows:
            vcpus_used, memory_used = used.get(row.name, (0, 0))
            hosts.append(HostCandidate(
                name=row.name, vcpus=row.vcpus, memory_mb=row.memory_mb, vcpus_used=vcpus_used,
                memory_mb_used=memory_used, cpu_allocation_ratio=config.cpu_allocation_ratio,
                ram_allocation_ratio=config.ram_allocation_ratio,
                numa_nodes=tuple(int(n["id"]) for n in row.numa_topology),
                devices=tuple(devices.get(row.name, ())),
            ))  # fmt: skip
    return sorted(hosts, key=lambda host: host.name)


class HostView:
    """Every host as the scheduler sees it, caught up with the database before each decision.

    One per server process; safe to share between request threads.
    """

    def __init__(self, config: ComputeConfig | None = None) -> None:
        self.config = config or ComputeConfig()
        self._catalog = HostCatalog()
        self._stamps: dict[str, int] = {}
        self._watermark = 0
        self._stale: set[str] = set()
        self._lock = threading.Lock()

    def decide(
        self, session: Session, request: InstanceRequest, only: str | None = None
    ) -> Decision:
        """Schedule ``request`` over every host, or only the one named ``only``."""
        with self._lock:
            self._catch_up(session)
            hosts: Iterable[HostIndex] | HostCatalog = self._catalog
            if only is not None:
                hosts = [self._catalog.get(only)] if only in self._catalog else []
            return schedule(request, hosts, weighers=self.config.weighers)

    def forget(self, host: str) -> None:
        """Read ``host`` again before the next decision (a claim there lost a race)."""
        with self._lock:
            self._stale.add(host)

    def _catch_up(self, session: Session) -> None:
        stamps, watermark = schedule_stamps.changed_since(session, self._watermark)
        changed = {name for name, seq in stamps.items() if self._stamps.get(name) != seq}
        changed |= self._stale
        if changed:
            found = load_hosts(session, self.config, changed)
            for host in found:
                self._catalog.put(host)
            for name in changed - {host.name for host in found}:
                self._catalog.remove(name)
                self._stamps.pop(name, None)
        self._stamps.update(stamps)
        self._watermark, self._stale = watermark, set()
