"""Writers of one process take turns on SQLite instead of finding the database locked."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from vfplane.db.engine import make_engine

THREADS, WRITES = 8, 25


def test_concurrent_writers_never_find_the_database_locked(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")

    @event.listens_for(engine, "connect")
    def no_patience(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")  # a locked database fails at once

    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counts (id INTEGER PRIMARY KEY, n INTEGER)"))
        connection.execute(text("INSERT INTO counts VALUES (1, 0)"))
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer() -> None:
        start.wait()
        for _ in range(WRITES):
            try:
                with engine.begin() as connection:
                    connection.execute(text("UPDATE counts SET n = n + 1 WHERE id = 1"))
                    connection.execute(text("SELECT n FROM counts")).scalar_one()
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM counts")).scalar_one() == THREADS * WRITES
    engine.dispose()
