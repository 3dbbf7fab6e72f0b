"""The scheduler's picture of every host, kept in the server process between boots.

It is read from the database once; before each decision only the hosts stamped
since (``db/schedule_stamps``) are read again, so a decision costs about the
same at ten hosts and at ten thousand. The picture is never trusted for a
claim: a claim checks every row it changes, and a lost race makes the host be
read again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from sqlalchemy import BindParameter, Row, Text, bindparam, cast, func, select
from sqlalchemy.orm import Session

from vfplane.db import schedule_stamps
from vfplane.db.compute_tables import Server
from vfplane.db.tables import Host, PciDeviceRecord
from vfplane.domain.device_states import DeviceStatus
from vfplane.domain.pci import DeviceType, PciAddress
from vfplane.domain.scheduling import (
    ENOUGH_FITS,
    Decision,
    HostCandidate,
    HostCatalog,
    HostIndex,
    InstanceRequest,
    SchedDevice,
    WeigherConfig,
    schedule,
)
from vfplane.service import claims
from vfplane.service.metrics import Metrics

NAMES_PER_QUERY = 500  # bound parameters per IN list, well under every backend's limit
DEVICE_CACHE = 100_000  # distinct device rows kept for sharing
_DEVICE_COLUMNS = (PciDeviceRecord.address, PciDeviceRecord.vendor_id,
                   PciDeviceRecord.product_id, PciDeviceRecord.dev_type,
                   PciDeviceRecord.parent_addr, PciDeviceRecord.numa_node,
                   cast(PciDeviceRecord.tags, Text), PciDeviceRecord.status,
                   PciDeviceRecord.ifname)  # fmt: skip
DeviceRow = tuple[Any, ...]  # the values of _DEVICE_COLUMNS


@dataclass(frozen=True)
class ComputeConfig:
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    weighers: WeigherConfig = field(default_factory=WeigherConfig)
    host_subset_size: int = 1  # Nova's [filter_scheduler] host_subset_size


class _Devices:
    """Equal device rows become one shared ``SchedDevice``: a large cloud has few distinct
    rows (one address plan per hardware layout, a few states), so loading it costs little
    time and memory per host. Forgets everything past ``DEVICE_CACHE`` distinct rows."""

    def __init__(self) -> None:
        self._tags: dict[str, Mapping[str, Any]] = {}
        self._devices: dict[DeviceRow, SchedDevice] = {}
        self._rows: dict[int, DeviceRow] = {}  # by id() of each device in _devices

    def __call__(self, rows: tuple[DeviceRow, ...]) -> tuple[SchedDevice, ...]:
        if len(self._devices) > DEVICE_CACHE:
            self._devices.clear()
            self._rows.clear()
        return tuple(self._device(row) for row in rows)

    def with_status(self, device: SchedDevice, status: DeviceStatus) -> SchedDevice:
        """``device`` in ``status``: shared, as if read so from the database."""
        row = self._rows.get(id(device))
        if row is None or self._devices.get(row) is not device:  # not (or no longer) shared
            return replace(device, status=status)
        return self._device((*row[:7], status.value, *row[8:]))

    def _device(self, row: DeviceRow) -> SchedDevice:
        found = self._devices.get(row)
        if found is None:
            address, vendor, product, dev_type, parent, numa, tags, status, netdev = row
            found = self._devices[row] = SchedDevice(
                address=PciAddress.parse(address), vendor_id=vendor, product_id=product,
                dev_type=DeviceType(dev_type),
                parent_addr=PciAddress.parse(parent) if parent else None, numa_node=numa,
                tags=self._parsed_tags(tags), status=DeviceStatus(status), netdev=netdev,
            )  # fmt: skip
            self._rows[id(found)] = row
        return found

    def _parsed_tags(self, text: str | None) -> Mapping[str, Any]:
        key = text or "{}"
        found = self._tags.get(key)
        if found is None:
            found = self._tags[key] = MappingProxyType(json.loads(key))
        return found


def _chunks(names: Collection[str] | None) -> Iterator[list[str] | None]:
    if names is None:
        yield None
        return
    ordered = sorted(names)
    for start in range(0, len(ordered), NAMES_PER_QUERY):
        yield ordered[start : start + NAMES_PER_QUERY]


_NAMES: BindParameter[list[str]] = bindparam("names", expanding=True)
_LIVE_ON_HOST = (Server.host == Host.name, Server.deleted_at.is_(None))
_HOSTS = select(
    Host.name, Host.vcpus, Host.memory_mb, Host.numa_topology,
    *(select(func.coalesce(func.sum(Server.flavor[key].as_integer()), 0))
      .where(*_LIVE_ON_HOST).scalar_subquery().label(f"{key}_used") for key in ("vcpus", "ram")),
)  # fmt: skip
_DEVICES = select(PciDeviceRecord.host, *_DEVICE_COLUMNS).order_by(
    PciDeviceRecord.host, PciDeviceRecord.address
)  # a stable order lets an index update in place
_QUERIES = {  # (hosts with the capacity in use, devices) for every host, and for those named
    False: (_HOSTS, _DEVICES),
    True: (_HOSTS.where(Host.name.in_(_NAMES)), _DEVICES.where(PciDeviceRecord.host.in_(_NAMES))),
}


def _read(
    session: Session, names: list[str] | None
) -> tuple[list[Row[Any]], dict[str, list[DeviceRow]]]:
    """Host rows (with ``vcpus_used`` and ``ram_used``) and device rows by host."""
    connection = session.connection()
    host_query, device_query = _QUERIES[names is not None]
    params = {"names": names} if names is not None else {}
    devices: dict[str, list[DeviceRow]] = {}
    for host, *row in connection.execute(device_query, params):
        devices.setdefault(host, []).append(tuple(row))
    return list(connection.execute(host_query, params)), devices


def load_indexes(
    session: Session, config: ComputeConfig, devices: _Devices,
    names: Collection[str] | None = None, previous: Mapping[str, HostIndex] | None = None,
) -> list[HostIndex]:  # fmt: skip
    """Every host (or those named) with its devices and the capacity in use, by name.

    A host in ``previous`` is updated from its index there; hosts whose device rows are
    all equal (one hardware layout in one state) share the pools of the first."""
    templates: dict[tuple[DeviceRow, ...], HostIndex] = {}
    indexes = []
    for chunk in _chunks(names):
        hosts, rows_of = _read(session, chunk)
        for host in hosts:
            rows = tuple(rows_of.get(host.name, ()))
            candidate = HostCandidate(
                name=host.name, vcpus=host.vcpus, memory_mb=host.memory_mb,
                vcpus_used=host.vcpus_used, memory_mb_used=host.ram_used,
                cpu_allocation_ratio=config.cpu_allocation_ratio,
                ram_allocation_ratio=config.ram_allocation_ratio,
                numa_nodes=tuple(int(n["id"]) for n in host.numa_topology),
                devices=devices(rows),
            )  # fmt: skip
            older = (previous or {}).get(host.name)
            if older is not None:
                indexes.append(older.updated(candidate))
            elif rows in templates:
                indexes.append(templates[rows].updated(candidate))
            else:
                indexes.append(templates.setdefault(rows, HostIndex(candidate)))
    return sorted(indexes, key=lambda index: index.name)


class HostView:
    """Every host as the scheduler sees it, caught up with the database before each decision.

    One per server process; safe to share between request threads.
    """

    def __init__(self, config: ComputeConfig | None = None, metrics: Metrics | None = None) -> None:
        self.config = config or ComputeConfig()
        self.metrics = metrics or Metrics()  # times the decisions; the boot flow counts claims
        self._catalog = HostCatalog()
        self._devices = _Devices()
        self._stamps: dict[str, int] = {}
        self._watermark = 0
        self._stale: set[str] = set()
        self._lock = threading.Lock()

    def decide(
        self, session: Session, request: InstanceRequest, only: str | None = None
    ) -> Decision:
        """Schedule ``request`` over every host, or only the one named ``only``."""
        started = time.perf_counter()
        claims.observe(session, self)  # its claims come back here without a reload
        session.flush()  # nothing to write (nor a write turn to wait for) under the lock,
        session.connection()  # nor a pooled connection to wait for
        with self._lock:
            self._catch_up(session)
            hosts: Iterable[HostIndex] | HostCatalog = self._catalog
            if only is not None:
                hosts = [self._catalog.get(only)] if only in self._catalog else []
            enough = max(ENOUGH_FITS, self.config.host_subset_size)
            decision = schedule(request, hosts, weighers=self.config.weighers, enough=enough)
        self.metrics.decided(decision.fits, time.perf_counter() - started)
        return decision

    def __len__(self) -> int:
        """How many hosts the view holds (as of its last catch-up)."""
        return len(self._catalog)

    def hosts(self, sessions: Callable[[], Session]) -> list[HostCandidate]:
        """Every host as the scheduler sees it, caught up first (for reports: metrics)."""
        with sessions() as session, self._lock:
            self._catch_up(session)
            return [index.host for index in self._catalog]

    def warm(self, sessions: Callable[[], Session]) -> None:
        """Read every host now rather than at the first boot (seconds at 10,000 hosts)."""
        with sessions() as session, self._lock:
            self._catch_up(session)

    def forget(self, host: str) -> None:
        """Read ``host`` again before the next decision (a claim there lost a race)."""
        with self._lock:
            self._stale.add(host)

    def stamp_of(self, host: str) -> int | None:
        """The stamp of the picture held of ``host``; None when it is not to be trusted."""
        with self._lock:
            if host in self._stale or host not in self._catalog:
                return None
            return self._stamps.get(host)

    def changed(
        self, host: str, seen: int, stamp: int, statuses: Mapping[PciAddress, DeviceStatus]
    ) -> None:
        """A committed claim (or allocation, or release) took ``host`` from stamp ``seen``
        to ``stamp`` by changing these statuses: when the picture held of the host is still
        of ``seen``, these changes make it current without reading the host again."""
        with self._lock:
            if self._stamps.get(host) != seen or host in self._stale or host not in self._catalog:
                return  # read again at the next catch-up: the stamps differ
            index = self._catalog.get(host)
            devices, found = list(index.host.devices), 0
            for position, device in enumerate(devices):
                status = statuses.get(device.address)
                if status is not None:
                    devices[position] = self._devices.with_status(device, status)
                    found += 1
            if found != len(statuses):
                self._stale.add(host)  # a device the picture lacks: not the picture of `seen`
                return
            self._catalog.put(index.updated(replace(index.host, devices=tuple(devices))))
            self._stamps[host] = stamp

    def _catch_up(self, session: Session) -> None:
        stamps, watermark = schedule_stamps.changed_since(session, self._watermark)
        changed = {name for name, seq in stamps.items() if self._stamps.get(name) != seq}
        changed |= self._stale
        if changed:
            known = {name: self._catalog.get(name) for name in changed if name in self._catalog}
            found = load_indexes(session, self.config, self._devices, changed, known)
            for index in found:
                self._catalog.put(index)
            for name in changed - {index.name for index in found}:
                self._catalog.remove(name)
                self._stamps.pop(name, None)
        self._stamps.update(stamps)
        self._watermark, self._stale = watermark, set()
