"""LISTEN on a PostgreSQL channel in a background thread (changes from other servers)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine

LOG = logging.getLogger(__name__)


class PgListener:
    """Calls ``on_payload`` for every NOTIFY on ``channel``; reconnects after errors."""

    def __init__(
        self, engine: Engine, channel: str, on_payload: Callable[[str], None],
        on_connect: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        url = engine.url.set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._channel = channel
        self._on_payload = on_payload
        self._on_connect = on_connect  # after each (re)connection: what was sent meanwhile is lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listener", daemon=True)
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                self.connected.clear()
                LOG.warning("LISTEN %s failed (%s); retrying in 1 s", self._channel, exc)
                self._stop.wait(1.0)

    def _listen(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as connection:
            connection.execute(f"LISTEN {self._channel}")
            if self._on_connect is not None:
                self._on_connect()
            self.connected.set()
            while not self._stop.is_set():
                for notify in connection.notifies(timeout=0.1, stop_after=100):
                    self._on_payload(notify.payload)
