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
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    Select,
    Text,
    bindparam,
    cast,
    or_,
    select,
    update,
)
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


def _claim_scope() -> Select[Any]:
    """The rows a claim of the seed addresses depends on: the seeds, their PFs and their VFs.
    A VF's claim reads its PF, not its siblings: the PF's generation moves with every change
    of one of its VFs, so claims of two siblings still conflict."""
    on_host = PciDeviceRecord.host == bindparam("host")
    seeds: BindParameter[list[str]] = bindparam("addresses", expanding=True)
    parents = select(PciDeviceRecord.parent_addr).where(on_host, PciDeviceRecord.address.in_(seeds))
    return select(*_COLUMNS).where(
        on_host, or_(PciDeviceRecord.address.in_(seeds), PciDeviceRecord.parent_addr.in_(seeds),
                     PciDeviceRecord.address.in_(parents.correlate(None).scalar_subquery()))
    )  # fmt: skip


_FAMILY_OF_ADDRESSES = _claim_scope()
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


def _with_stamp(family: Select[Any]) -> Select[Any]:
    """PostgreSQL: stamp the host (only if its stamp is still the one seen) and read the
    rows in one statement; each row carries the new stamp, NULL when the stamp differed.
    The rows come from the statement's snapshot, taken before any wait for the host: they
    are current only when the stamp was still the one seen (any other writer stamps)."""
    stamped = schedule_stamps.stamp_if_seen_cte()
    return family.add_columns(select(stamped.c.schedule_seq).scalar_subquery().label("stamped"))


_STAMPED = {id(f): _with_stamp(f) for f in (_FAMILY_OF_ADDRESSES, _FAMILY_OF_INSTANCE)}


def _stamp_and_read(
    session: Session, host: str, seen: int | None, family: Select[Any], params: dict[str, Any]
) -> tuple[int | None, _Snapshot]:
    """Stamp ``host`` (taking its write lock) and read the rows of ``family`` then; returns
    the new stamp when the stamp replaced was ``seen`` (see ``schedule_stamps``), else None."""
    params = {"host": host, **params}
    if seen is not None and session.get_bind().dialect.name == "postgresql":
        rows = session.connection().execute(_STAMPED[id(family)], {**params, "seen": seen}).all()
        if rows and rows[0].stamped is not None:
            return int(rows[0].stamped), _snapshot_of(rows)
        schedule_stamps.stamp(session, [host])
        return None, _snapshot(session, family, params)
    stamped = schedule_stamps.stamp_if_seen(session, host, seen)
    return stamped, _snapshot(session, family, params)


def _snapshot(session: Session, family: Select[Any], params: dict[str, Any]) -> _Snapshot:
    return _snapshot_of(session.connection().execute(family, params).all())


def _snapshot_of(rows: Sequence[Row[Any]]) -> _Snapshot:
    tree = DeviceTree([_tracked(row) for row in rows])
    read = {PciAddress.parse(row.address): (row.id, row.generation) for row in rows}
    before = {t.address: (t.status, t.instance_id, t.request_id) for t in tree}
    return _Snapshot(tree, read, before)


def _write(session: Session, host: str, snapshot: _Snapshot) -> dict[PciAddress, DeviceStatus]:
    """Store every changed device, each only if nobody changed it since it was read, in one
    round trip; returns the new status of each. The PF of a changed VF moves its generation
    too, changed or not: two siblings' changes then conflict, so neither can leave the PF in
    a state that only fits the other's reading."""
    before = snapshot.before
    changed = [t for t in snapshot.tree
               if (t.status, t.instance_id, t.request_id) != before[t.address]]  # fmt: skip
    if not changed:
        return {}
    rows = {t.address: t for t in changed}
    for tracked in changed:  # their PFs too, changed or not
        if tracked.parent is not None:
            rows.setdefault(tracked.parent.address, tracked.parent)
    params = []
    for tracked in rows.values():
        row_id, generation = snapshot.rows[tracked.address]
        params.append({"row_id": row_id, "seen": generation, "to_status": tracked.status.value,
                       "to_instance": tracked.instance_id,
                       "to_request": tracked.request_id})  # fmt: skip
    if session.connection().execute(_UPDATE, params).rowcount != len(params):
        raise _StaleRow(f"PCI devices on {host} changed meanwhile")
    return {t.address: t.status for t in changed}


class Observer(Protocol):
    """Who keeps a picture of the hosts (``HostView``) and can take a change in directly."""

    def stamp_of(self, host: str) -> int | None:
        """The stamp of ``host`` that the picture is of, if the picture can be trusted."""

    def changed(
        self, host: str, seen: int, stamp: int, statuses: Mapping[PciAddress, DeviceStatus]
    ) -> None:
        """``host`` went from stamp ``seen`` to ``stamp`` by exactly these status changes."""


_OBSERVER = "vfplane.claims.observer"


def observe(session: Session, observer: Observer) -> None:
    """Hand every device change that ``session`` commits from now on to ``observer``, when
    nothing else changed the host since the stamp that ``observer`` holds of it."""
    session.info[_OBSERVER] = observer


def _unflushed(session: Session) -> bool:
    return bool(session.new or session.dirty or session.deleted)


def _transact(
    session: Session, host: str, scope: tuple[Select[Any], dict[str, Any]],
    change: Callable[[DeviceTree], None],
) -> None:  # fmt: skip
    """Apply ``change`` to fresh rows and write it. The host is stamped first: that takes
    SQLite's write lock (PostgreSQL: the host row's), so changes on one host queue instead
    of racing; a row still changed meanwhile (by a writer that did not stamp first) means
    reading again, a rule broken means giving up. An observer whose picture of the host was
    current until this change (its stamp is the one replaced) is handed the change."""
    observer: Observer | None = session.info.get(_OBSERVER)
    seen = observer.stamp_of(host) if observer is not None else None
    for _ in range(WRITE_TRIES):
        try:
            stamped, snapshot = _stamp_and_read(session, host, seen, *scope)
            change(snapshot.tree)
            statuses = _write(session, host, snapshot)
            stamped = None if _unflushed(session) else stamped  # the commit would stamp again
            session.commit()  # also what the caller's session holds, as it always did
        except DeviceStateError as exc:
            session.rollback()
            raise ClaimConflict(str(exc)) from exc
        except (_StaleRow, OperationalError) as exc:  # OperationalError: SQLite is busy
            session.rollback()
            LOG.debug("retrying a device change on %s: %s", host, exc)
        except BaseException:
            session.rollback()
            raise
        else:
            if observer is not None and seen is not None and stamped is not None:
                observer.changed(host, seen, stamped, statuses)
            return
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
