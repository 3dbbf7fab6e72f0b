"""Claims: devices move available → claimed → allocated → available in transactions
that can never hand one device out twice, also with several servers on one database.

Each change goes through the pure state machine (``DeviceTree``) and is written with
optimistic concurrency, as Placement does: every row update is conditional on the
generation that was read. A lost race surfaces as ``ClaimConflict`` and nothing of
the attempt is kept; the caller tries the next candidate.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, Text, bindparam, cast, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from vfplane.db import schedule_stamps
from vfplane.db.tables import PciDeviceRecord
from vfplane.domain.device_states import DeviceStatus, DeviceTree, TrackedDevice
from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.errors import Conflict, DeviceStateError

LOG = logging.getLogger(__name__)


class ClaimConflict(Conflict):
    """A device was taken or changed meanwhile; try another candidate."""


class _StaleRow(Exception):
    """A row changed since it was read; the whole change is tried again on fresh rows."""


WRITE_TRIES = 8


_COLUMNS = (*(getattr(PciDeviceRecord, name) for name in (
    "id", "generation", "address", "vendor_id", "product_id", "dev_type", "parent_addr",
    "numa_node")), cast(PciDeviceRecord.tags, Text), PciDeviceRecord.status,
    PciDeviceRecord.instance_id, PciDeviceRecord.request_id)  # fmt: skip


def _family_of(*seed: ColumnElement[bool]) -> Select[Any]:
    """The rows of a host that the seed rows' changes depend on: the seeds, their PFs, and
    the VFs of both (a PF's state follows its VFs'; a VF's follows its PF's)."""
    on_host = PciDeviceRecord.host == bindparam("host")
    seeds = select(PciDeviceRecord.address).where(on_host, *seed)
    parents = select(PciDeviceRecord.parent_addr).where(on_host, *seed)
    heads = seeds.union(parents).subquery()
    return select(*_COLUMNS).where(
        on_host, or_(PciDeviceRecord.address.in_(select(heads.c.address)),
                     PciDeviceRecord.parent_addr.in_(select(heads.c.address)))
    )  # fmt: skip


_FAMILY_OF_ADDRESSES = _family_of(
    PciDeviceRecord.address.in_(bindparam("addresses", expanding=True))
)
_FAMILY_OF_INSTANCE = _family_of(PciDeviceRecord.instance_id == bindparam("instance_id"))
_AS_READ = (
    update(PciDeviceRecord)
    .where(  # the row, only if unchanged since it was read
        PciDeviceRecord.id == bindparam("row_id"), PciDeviceRecord.generation == bindparam("seen")
    )
    .values(generation=bindparam("seen") + 1)
)
_UPDATE = _AS_READ.values(status=bindparam("to_status"), instance_id=bindparam("to_instance"),
                          request_id=bindparam("to_request"))  # fmt: skip
_TOUCH = _AS_READ
_State = tuple[DeviceStatus, str | None, str | None]


@dataclass(frozen=True)
class _Snapshot:
    tree: DeviceTree
    rows: dict[PciAddress, tuple[str, int]]  # id and generation as read
    before: dict[PciAddress, _State]


@functools.lru_cache(maxsize=1 << 16)  # hosts of one layout repeat the same facts
def _device(
    address: str, vendor_id: str, product_id: str, dev_type: str, parent: str | None,
    numa_node: int | None, tags: str | None,
) -> PciDevice:  # fmt: skip
    return PciDevice(
        address=PciAddress.parse(address), vendor_id=vendor_id, product_id=product_id,
        dev_type=DeviceType(dev_type), parent_addr=PciAddress.parse(parent) if parent else None,
        numa_node=numa_node, tags=MappingProxyType(json.loads(tags or "{}")),
    )  # fmt: skip


def _tracked(row: Row[Any]) -> TrackedDevice:
    device = _device(*row[2:9])
    return TrackedDevice(device, DeviceStatus(row.status), row.instance_id, row.request_id)


def _snapshot(session: Session, family: Select[Any], params: dict[str, Any]) -> _Snapshot:
    rows = session.connection().execute(family, params).all()
    tree = DeviceTree([_tracked(row) for row in rows])
    read = {PciAddress.parse(row.address): (row.id, row.generation) for row in rows}
    before = {t.address: (t.status, t.instance_id, t.request_id) for t in tree}
    return _Snapshot(tree, read, before)


def _write(session: Session, host: str, snapshot: _Snapshot) -> bool:
    """Store every changed device, each only if nobody changed it since it was read. The PF
    of a changed VF moves its generation too, changed or not: two siblings' changes then
    conflict, so neither can leave the PF in a state that only fits the other's reading."""
    before = snapshot.before
    changed = [t for t in snapshot.tree
               if (t.status, t.instance_id, t.request_id) != before[t.address]]  # fmt: skip
    if not changed:
        return False
    connection = session.connection()
    for tracked in changed:
        row_id, generation = snapshot.rows[tracked.address]
        result = connection.execute(_UPDATE, {
            "row_id": row_id, "seen": generation, "to_status": tracked.status.value,
            "to_instance": tracked.instance_id, "to_request": tracked.request_id})  # fmt: skip
        if result.rowcount != 1:
            raise _StaleRow(f"PCI device {tracked.address} on {host} changed meanwhile")
    touched = {t.parent.address for t in changed if t.parent is not None} - {
        t.address for t in changed}  # fmt: skip
    for address in touched:
        row_id, generation = snapshot.rows[address]
        if connection.execute(_TOUCH, {"row_id": row_id, "seen": generation}).rowcount != 1:
            raise _StaleRow(f"PCI device {address} on {host} changed meanwhile")
    return True


def _transact(
    session: Session, host: str, scope: tuple[Select[Any], dict[str, Any]],
    change: Callable[[DeviceTree], None],
) -> None:  # fmt: skip
    """Apply ``change`` to fresh rows and write it. The host is stamped first: that takes
    SQLite's write lock (PostgreSQL: the host row's), so changes on one host queue instead
    of racing; a row still changed meanwhile (by a writer that did not stamp first) means
    reading again, a rule broken means giving up."""
    for _ in range(WRITE_TRIES):
        try:
            schedule_stamps.stamp(session, [host])
            family, params = scope
            snapshot = _snapshot(session, family, {"host": host, **params})
            change(snapshot.tree)
            _write(session, host, snapshot)
            session.commit()  # also what the caller's session holds, as it always did
            return
        except DeviceStateError as exc:
            session.rollback()
            raise ClaimConflict(str(exc)) from exc
        except (_StaleRow, OperationalError) as exc:  # OperationalError: SQLite is busy
            session.rollback()
            LOG.debug("retrying a device change on %s: %s", host, exc)
        except BaseException:
            session.rollback()
            raise
    raise ClaimConflict(f"the devices of {host} keep changing; try again")


def claim(
    session: Session, host: str, instance_id: str, wanted: Mapping[str, Iterable[PciAddress]]
) -> None:
    """Claim ``wanted`` (request id → addresses) on ``host`` for ``instance_id``, all or nothing."""
    wanted = {request_id: list(addresses) for request_id, addresses in wanted.items()}

    def change(tree: DeviceTree) -> None:
        for request_id, addresses in wanted.items():
            for address in addresses:
                if address not in tree:
                    raise ClaimConflict(f"PCI device {address} is not on {host} any more")
                tree[address].claim(instance_id, request_id)

    addresses = sorted({str(a) for found in wanted.values() for a in found})
    _transact(session, host, (_FAMILY_OF_ADDRESSES, {"addresses": addresses}), change)


def allocate(session: Session, host: str, instance_id: str) -> None:
    """Every device claimed by ``instance_id`` on ``host`` becomes allocated."""

    def change(tree: DeviceTree) -> None:
        for tracked in tree:
            if tracked.instance_id == instance_id and tracked.status is DeviceStatus.CLAIMED:
                tracked.allocate(instance_id)

    _transact(session, host, (_FAMILY_OF_INSTANCE, {"instance_id": instance_id}), change)


def free(
    session: Session, host: str, instance_id: str, request_ids: Collection[str] | None = None
) -> list[PciAddress]:
    """Give back the devices of ``instance_id`` on ``host`` (only those of ``request_ids``
    when given); returns their addresses."""
    freed: list[PciAddress] = []

    def wanted(tracked: TrackedDevice) -> bool:
        return request_ids is None or tracked.request_id in request_ids

    def change(tree: DeviceTree) -> None:
        freed.clear()  # a retry starts again from fresh rows
        for tracked in tree:
            if tracked.instance_id == instance_id and wanted(tracked) and tracked.status in (
                DeviceStatus.CLAIMED, DeviceStatus.ALLOCATED,
            ):  # fmt: skip
                tracked.free(instance_id)
                freed.append(tracked.address)

    _transact(session, host, (_FAMILY_OF_INSTANCE, {"instance_id": instance_id}), change)
    return freed
