"""On PostgreSQL, a change committed by one server process wakes waiters of another."""

from __future__ import annotations

import threading

import pytest

from tests.functional.api.conftest import PG_URL
from vfplane.db.engine import make_engine
from vfplane.db.pg_listener import PgListener
from vfplane.service.host_changes import CHANNEL


@pytest.mark.skipif(PG_URL is None, reason="VFPLANE_TEST_DATABASE_URL is not set")
def test_notify_reaches_another_listener() -> None:
    assert PG_URL is not None
    engine = make_engine(PG_URL)
    received: list[str] = []
    arrived = threading.Event()

    def on_payload(payload: str) -> None:
        received.append(payload)
        arrived.set()

    listener = PgListener(engine, CHANNEL, on_payload)
    listener.start()
    try:
        assert listener.connected.wait(10)
        other_process = make_engine(PG_URL)
        with other_process.begin() as connection:
            connection.exec_driver_sql(f"NOTIFY {CHANNEL}, 'compute-1,compute-2'")
        assert arrived.wait(10)
        assert received == ["compute-1,compute-2"]
        other_process.dispose()
    finally:
        listener.stop()
        engine.dispose()
