"""Engines and sessions: SQLite (WAL, foreign keys) by default, PostgreSQL by URL."""

from __future__ import annotations

import logging
import select
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from vfplane.db import schedule_stamps

LOG = logging.getLogger(__name__)
SessionFactory = sessionmaker[Session]
PING_IDLE_S = 1.0  # a PostgreSQL connection idle this long is checked before use
SQLITE_POOL = 20  # connections kept open: request threads would otherwise reconnect


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class _WriterTurns:
    """One writing transaction at a time per SQLite engine, queued on a lock in this process.

    SQLite admits one writer; without this, concurrent request threads find the database
    locked and sleep in SQLite's busy handler (up to 100 ms a try) instead of waiting their
    turn. A transaction takes the turn at its first write; the connection gives it back once
    its commit or rollback has completed (its class is made for the engine, below).
    """

    TIMEOUT_S = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def connection_class(self) -> type[sqlite3.Connection]:
        turns = self

        class TurnTakingConnection(sqlite3.Connection):
            holds_turn = False

            def commit(self) -> None:
                try:
                    super().commit()
                finally:
                    turns.end(self)

            def rollback(self) -> None:
                try:
                    super().rollback()
                finally:
                    turns.end(self)

            def close(self) -> None:
                try:
                    super().close()
                finally:
                    turns.end(self)

        return TurnTakingConnection

    def before_execute(self, conn: Connection, *args: Any) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        if getattr(dbapi_connection, "holds_turn", True):
            return
        if not str(args[1]).lstrip()[:7].upper().startswith(_WRITES):
            return
        if not self._lock.acquire(timeout=self.TIMEOUT_S):
            raise TimeoutError(f"no turn to write to SQLite within {self.TIMEOUT_S:.0f} s")
        dbapi_connection.holds_turn = True  # type: ignore[union-attr]

    def end(self, dbapi_connection: Any) -> None:
        if dbapi_connection.holds_turn:
            dbapi_connection.holds_turn = False
            self._lock.release()


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; ``postgresql://`` URLs use psycopg 3."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        turns = _WriterTurns()
        engine = create_engine(url, pool_size=SQLITE_POOL, max_overflow=SQLITE_POOL,
                               connect_args={"check_same_thread": False, "timeout": 30,
                                             "factory": turns.connection_class()})  # fmt: skip
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "before_cursor_execute", turns.before_execute)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use if it sat idle for ``PING_IDLE_S`` (the database
    may have restarted meanwhile) or the server sent it something while it was idle (a
    connection terminated by the server gets its FATAL message, then end of file).
    ``pool_pre_ping`` would check at every checkout, a round trip per request under load;
    looking for pending input costs no round trip. A connection that fails in use still
    invalidates the pool."""

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None:
            return
        if time.monotonic() - since < PING_IDLE_S and not _input_pending(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool connects again (up to three tries)
            raise DisconnectionError(f"a pooled connection is gone: {exc}") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def _input_pending(dbapi_connection: Any) -> bool:
    """Whether an idle connection's socket has something to read (or is gone): nothing is
    pending on a healthy idle connection, which has no query running and listens to nothing."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except Exception:  # closed or not a socket: the ping decides
        return True
    return bool(readable)


def make_session_factory(engine: Engine) -> SessionFactory:
    """Sessions that stamp the hosts whose scheduling picture they change."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    schedule_stamps.install(sessions)
    return sessions


def close_session(session: Session) -> None:
    """Close ``session``; a connection lost meanwhile is only logged. Closing rolls back what
    was not committed, which the database did anyway when it dropped the connection (and the
    pool has invalidated it), so a request whose answer is ready must not fail here."""
    try:
        session.close()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        LOG.warning("the database connection was lost before its session closed: %s",
                    str(exc.orig).splitlines()[0] if exc.orig is not None else exc)  # fmt: skip


def sqlite_url(path: str) -> str:
    return f"sqlite:///{path}"
