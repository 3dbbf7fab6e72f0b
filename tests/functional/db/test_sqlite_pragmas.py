"""The app's SQLite connections journal in WAL mode with foreign keys enforced."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from vfplane.db import migrate
from vfplane.db.engine import make_engine, make_session_factory


def test_every_connection_is_wal_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'vfplane.db'}")
    migrate.upgrade(engine)
    try:
        with engine.connect() as first, engine.connect() as second:  # two pooled connections
            for connection in (first, second):
                assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        with make_session_factory(engine)() as session, pytest.raises(IntegrityError):
            session.execute(
                text(
                    "INSERT INTO qos_rules (id, policy_id, rule_type, direction) "
                    "VALUES ('r', 'no-such-policy', 'bandwidth_limit', 'egress')"
                )
            )
        assert (tmp_path / "vfplane.db-wal").exists()  # while connections are open
    finally:
        engine.dispose()
