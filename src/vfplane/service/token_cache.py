"""Recently validated tokens, so that a request need not read five rows to know its caller.

An entry lives ``ttl`` seconds at most and never past the token's expiry. Every commit
that changes identity rows (a token revoked, a user, project, role or assignment changed)
empties the cache of this process at once. On PostgreSQL the commit also NOTIFYs
``CHANNEL``, and every other server process sharing the database empties its cache when
the notification arrives (``api/app.py`` listens); on SQLite, whose server is one process,
there are no others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

from vfplane.db.tables import Project, Role, RoleAssignment, Token, User
from vfplane.service.context import RequestContext

DEFAULT_TTL = 5.0
MAX_ENTRIES = 10_000
_IDENTITY = (Project, Role, RoleAssignment, Token, User)
_CHANGED = "vfplane.identity_changed"
CHANNEL = "vfplane_identity"


class TokenCache:
    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl, self._clock = ttl, clock
        self._entries: dict[str, tuple[RequestContext, datetime, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str, now: datetime) -> RequestContext | None:
        """The cached context of ``token`` if still fresh and the token not expired."""
        with self._lock:
            entry = self._entries.get(token)
        if entry is None:
            return None
        context, expires_at, cached_at = entry
        if expires_at <= now or self._clock() - cached_at > self.ttl:
            with self._lock:
                self._entries.pop(token, None)
            return None
        return context

    def put(self, token: str, context: RequestContext, expires_at: datetime) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[token] = (context, expires_at, self._clock())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def install(self, sessions: sessionmaker[Session]) -> None:
        """Empty this cache after every commit of ``sessions`` that changed identity rows."""

        def before_flush(session: Session, _context: Any, _instances: Any) -> None:
            added = [obj for obj in session.new if not isinstance(obj, Token)]  # logins
            changed = (*added, *session.dirty, *session.deleted)
            if session.info.get(_CHANGED) or not any(isinstance(o, _IDENTITY) for o in changed):
                return
            session.info[_CHANGED] = True
            if session.get_bind().dialect.name == "postgresql":  # delivered at commit
                session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})

        def after_commit(session: Session) -> None:
            if session.info.pop(_CHANGED, False):
                self.clear()

        def after_rollback(session: Session) -> None:
            session.info.pop(_CHANGED, None)

        event.listen(sessions, "before_flush", before_flush)
        event.listen(sessions, "after_commit", after_commit)
        event.listen(sessions, "after_rollback", after_rollback)
