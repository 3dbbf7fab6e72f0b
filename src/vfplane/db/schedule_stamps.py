"""Stamps on hosts that say when the scheduler's picture of them last changed.

Every transaction that changes what the scheduler sees of a host (a device's
state or facts, the host's capacity or NUMA cells, a server placed on it or
taken off) stamps the host's ``schedule_seq``. A reader asks for the hosts
stamped at or after a *watermark* and reloads those whose stamp differs from
the one it has; the watermark it keeps for next time guarantees that no commit
is missed, whatever order concurrent transactions commit in:

- SQLite has one writer at a time, so a stamp of max + 1 is unique and in
  commit order; the next watermark is the highest stamp seen, plus one.
- PostgreSQL stamps with the writing transaction's id; every transaction with
  an id below the snapshot's xmin has ended, so the next watermark is the xmin
  taken before the read (transactions still running are read again next time).

Device claims write with core statements and stamp explicitly; ORM changes are
stamped by a flush hook that every session factory installs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    bindparam,
    event,
    func,
    inspect,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from vfplane.db.compute_tables import Server
from vfplane.db.tables import Host, PciDeviceRecord

HOST_FIELDS = ("vcpus", "memory_mb", "numa_topology")
SERVER_FIELDS = ("host", "deleted_at", "flavor")
_PG_XID = "pg_current_xact_id()::text::bigint"
_PG_XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


_STAMP = {  # by dialect: PostgreSQL stamps with the transaction id, SQLite with max + 1
    True: literal_column(_PG_XID, BigInteger),
    False: select(func.coalesce(func.max(Host.schedule_seq), 0) + 1).scalar_subquery(),
}
_STAMP_HOSTS = {
    postgres: update(Host)
    .where(Host.name.in_(bindparam("names", expanding=True)))
    .values(schedule_seq=value)
    for postgres, value in _STAMP.items()
}
_STAMP_IF_SEEN = {  # the host, only if its stamp is still the one seen; returns the new stamp
    postgres: update(Host)
    .where(Host.name == bindparam("host"), Host.schedule_seq == bindparam("seen"))
    .values(schedule_seq=value)
    .returning(Host.schedule_seq)
    for postgres, value in _STAMP.items()
}
_CHANGED = select(Host.name, Host.schedule_seq).where(Host.schedule_seq >= bindparam("mark"))
_XMIN = select(literal_column(_PG_XMIN, BigInteger).label("xmin")).subquery()
_CHANGED_WITH_XMIN = select(Host.name, Host.schedule_seq, _XMIN.c.xmin).select_from(
    _XMIN.outerjoin(Host, Host.schedule_seq >= bindparam("mark"))
)  # one round trip; the xmin is of the very snapshot that reads the stamps


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def stamp_value(session: Session) -> ColumnElement[int]:
    """What a host changed in this transaction is stamped with."""
    return _STAMP[_postgres(session)]


def stamp(session: Session, hosts: Iterable[str]) -> None:
    """Mark ``hosts`` as changed in the current transaction."""
    names = sorted({h for h in hosts if h})
    if names:
        session.connection().execute(_STAMP_HOSTS[_postgres(session)], {"names": names})


def stamp_if_seen(session: Session, host: str, seen: int | None) -> int | None:
    """Mark ``host`` as changed in the current transaction, like ``stamp``. When its stamp
    was ``seen`` until now (nobody changed the host since whoever saw that stamp), returns
    the new stamp, in one statement; otherwise ``None``.

    The comparison is made on the row as locked for the update: PostgreSQL re-evaluates it on
    the newest version after waiting for a concurrent writer; SQLite writes one at a time,
    on the newest data.
    """
    if seen is not None:
        params = {"host": host, "seen": seen}
        found = session.connection().execute(_STAMP_IF_SEEN[_postgres(session)], params).first()
        if found is not None:
            return int(found[0])
    stamp(session, [host])
    return None


def stamp_if_seen_cte() -> CTE:
    """PostgreSQL: ``stamp_if_seen`` as a common table expression to read along with (its
    one row, ``schedule_seq``, is the new stamp; none when the stamp was not ``seen``)."""
    return _STAMP_IF_SEEN[True].cte("stamped")


def changed_since(session: Session, watermark: int) -> tuple[dict[str, int], int]:
    """Hosts stamped at or after ``watermark`` (name → stamp) and the watermark for next time."""
    connection = session.connection()
    if _postgres(session):
        rows = connection.execute(_CHANGED_WITH_XMIN, {"mark": watermark}).all()
        stamps = {row.name: row.schedule_seq for row in rows if row.name is not None}
        return stamps, max(watermark, int(rows[0].xmin))
    rows = connection.execute(_CHANGED, {"mark": watermark}).all()
    stamps = {row.name: row.schedule_seq for row in rows}
    return stamps, max(stamps.values()) + 1 if stamps else watermark


def _changed(obj: Any, fields: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _affected(obj: Any, new: bool, deleted: bool) -> set[str]:
    if isinstance(obj, PciDeviceRecord):
        return {obj.host}
    if isinstance(obj, Server) and (new or deleted or _changed(obj, SERVER_FIELDS)):
        return {obj.host, *(inspect(obj).attrs.host.history.deleted or ())} - {"", None}
    return set()


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    hosts: set[str] = set()
    with session.no_autoflush:
        for obj in session.new:
            if isinstance(obj, Host):
                obj.schedule_seq = stamp_value(session)
            hosts |= _affected(obj, new=True, deleted=False)
        for obj in session.dirty:
            if isinstance(obj, Host) and _changed(obj, HOST_FIELDS):
                obj.schedule_seq = stamp_value(session)
            hosts |= _affected(obj, new=False, deleted=False)
        for obj in session.deleted:
            hosts |= _affected(obj, new=False, deleted=True)
    stamp(session, hosts - {obj.name for obj in session.new if isinstance(obj, Host)})


def install(sessions: sessionmaker[Session]) -> None:
    """Stamp the changes of every session ``sessions`` makes (once per factory)."""
    if not event.contains(sessions, "before_flush", _before_flush):
        event.listen(sessions, "before_flush", _before_flush)
