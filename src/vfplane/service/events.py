"""Events: what went wrong and why (a port binding failed, a boot found no valid host).

An event is written in the transaction of the change it records (the failed binding, the
server's fault), so it exists exactly when that change does. The table keeps the newest
``KEEP`` events: each write prunes the older ones in the same transaction, with one
indexed statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vfplane.db.compute_tables import Server
from vfplane.db.tables import Event, Port, PortBinding
from vfplane.logs import current_request_id
from vfplane.service.context import RequestContext

KEEP = 1000
MAX_MESSAGE = 4000
MAX_HOSTS = 20


class EventKind(StrEnum):
    BINDING_FAILED = "binding_failed"
    NO_VALID_HOST = "no_valid_host"


def record(
    session: Session, kind: EventKind, message: str, now: datetime, *,
    details: Mapping[str, Any] | None = None, server_id: str | None = None,
    port_id: str | None = None, host: str | None = None, project_id: str | None = None,
    request_id: str | None = None, keep: int = KEEP,
) -> None:  # fmt: skip
    """Add an event to the session's transaction and drop all but the newest ``keep``.
    Without a ``request_id``, the id of the request being served (if any) is kept."""
    session.add(Event(
        kind=str(kind), created_at=now, message=message[:MAX_MESSAGE], details=dict(details or {}),
        server_id=server_id, port_id=port_id, host=host or None, project_id=project_id,
        request_id=request_id or current_request_id(),
    ))  # fmt: skip
    _prune(session, keep - 1)


def _prune(session: Session, keep: int) -> None:
    """Delete all but the newest ``keep`` stored events (by id: the primary key's index).
    Nothing is flushed first: the caller's pending changes reach the database with its own
    flush or commit, where it handles their errors."""
    with session.no_autoflush:
        if keep <= 0:
            session.execute(delete(Event))
            return
        newest = select(Event.id).order_by(Event.id.desc()).offset(keep - 1).limit(1)
        oldest_kept = session.scalar(newest)
        if oldest_kept is not None:
            session.execute(delete(Event).where(Event.id < oldest_kept))


def no_valid_host(
    session: Session, context: RequestContext, server: Server, message: str, now: datetime
) -> None:
    """A boot found no host: the scheduler's summary and its first ``MAX_HOSTS`` hosts'
    reasons are kept (the server's own explanation has them all)."""
    explanation = server.explanation or {}
    hosts = list(explanation.get("hosts") or [])
    ports = [str(p.get("port_id")) for p in server.ports if p.get("port_id")]
    record(
        session, EventKind.NO_VALID_HOST, message, now,
        details={"server_name": server.name, "ports": ports,
                 "summary": explanation.get("summary", ""), "hosts": hosts[:MAX_HOSTS],
                 "hosts_left_out": max(0, len(hosts) - MAX_HOSTS)},
        server_id=server.id, port_id=ports[0] if len(ports) == 1 else None,
        project_id=server.project_id, request_id=context.request_id,
    )  # fmt: skip


def binding_failed(
    session: Session, port: Port, binding: PortBinding, now: datetime, request_id: str | None = None
) -> None:
    """No mechanism driver bound ``port`` on its host: each driver's reason is kept."""
    reasons: Sequence[Mapping[str, Any]] = binding.failure_reasons or []
    said = "; ".join(f"{r.get('driver')}: {r.get('reason')}" for r in reasons)
    message = f"Port {port.id} could not be bound on host {binding.host}: {said or 'no driver'}"
    record(
        session, EventKind.BINDING_FAILED, message, now,
        details={"vnic_type": binding.vnic_type, "profile": dict(binding.profile or {}),
                 "failure_reasons": list(reasons)},
        server_id=port.device_id or None, port_id=port.id, host=binding.host,
        project_id=port.project_id, request_id=request_id,
    )  # fmt: skip


def recent(session: Session, limit: int, kind: str | None = None) -> list[Event]:
    """The newest events first."""
    query = select(Event).order_by(Event.id.desc()).limit(limit)
    if kind:
        query = query.where(Event.kind == kind)
    return list(session.scalars(query))
