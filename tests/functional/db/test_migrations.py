"""Every released schema revision upgrades to head without losing rows, to exactly the
schema a new database gets; and every revision downgrades to the one before it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from tests.functional.db.conftest import EmptyDatabases
from tests.functional.db.migration_rows import ROWS, insert_rows, read_rows
from vfplane.db import compute_tables, migrate  # noqa: F401  (its tables join Base)
from vfplane.db.engine import make_engine
from vfplane.db.tables import Base

REVISIONS = [s.revision for s in reversed(list(
    ScriptDirectory(str(migrate.MIGRATIONS)).walk_revisions()))]  # fmt: skip
# What columns added after a row was written read as: server defaults, else NULL.
ADDED_DEFAULTS: dict[str, dict[str, Any]] = {
    "servers": {"generation": 0, "reboot_type": None, "numa_nodes": []},
    "hosts": {"schedule_seq": 0},
}


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def schema_of(engine: Engine) -> dict[str, Any]:
    """Tables, columns, keys, constraints and indexes, as the database reports them."""
    inspector = inspect(engine)
    schema: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        columns = {c["name"]: (str(c["type"]), c["nullable"], c.get("default"))
                   for c in inspector.get_columns(table)}  # fmt: skip
        indexes = {i["name"]: (tuple(i["column_names"]), bool(i["unique"]),
                               sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items()))
                   for i in inspector.get_indexes(table)}  # fmt: skip
        uniques = {u["name"]: tuple(u["column_names"])
                   for u in inspector.get_unique_constraints(table)}  # fmt: skip
        keys = sorted((f["name"], tuple(f["constrained_columns"]), f["referred_table"],
                       tuple(f["referred_columns"]), f.get("options", {}).get("ondelete"))
                      for f in inspector.get_foreign_keys(table))  # fmt: skip
        primary = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        schema[table] = {"columns": columns, "indexes": indexes, "uniques": uniques,
                         "foreign_keys": keys, "primary_key": primary}  # fmt: skip
    return schema


def schemas_by_revision(databases: EmptyDatabases) -> dict[str, dict[str, Any]]:
    """The schema of a new database at each revision, reached one revision at a time."""
    found = {}
    with engine_for(databases.new()) as engine:
        for revision in REVISIONS:
            migrate.upgrade(engine, revision)
            found[revision] = schema_of(engine)
    return found


_SCHEMAS: dict[str, dict[str, dict[str, Any]]] = {}  # by backend: computed once


def reference(databases: EmptyDatabases) -> dict[str, dict[str, Any]]:
    if databases.backend not in _SCHEMAS:
        _SCHEMAS[databases.backend] = schemas_by_revision(databases)
    return _SCHEMAS[databases.backend]


def test_the_revisions_are_the_released_ones() -> None:
    assert REVISIONS == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008"]
    assert migrate.head_revision() == REVISIONS[-1]


@pytest.mark.parametrize("revision", REVISIONS)
def test_upgrade_from_a_revision_keeps_rows_and_reaches_the_head_schema(
    empty_databases: EmptyDatabases, revision: str
) -> None:
    with engine_for(empty_databases.new()) as engine:
        migrate.upgrade(engine, revision)
        with engine.begin() as connection:
            inserted = insert_rows(connection)
        assert inserted, f"no table exists at revision {revision}"
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as connection:
            found = read_rows(connection, list(inserted))
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
        assert schema_of(engine) == reference(empty_databases)[REVISIONS[-1]]
    for table, values in inserted.items():
        assert len(found[table]) == 1, table
        (row,) = found[table]
        head_values = dict(ROWS)[table]
        assert {k: row[k] for k in values} == values, table
        added = {k: row[k] for k in head_values if k not in values}
        assert added == {k: ADDED_DEFAULTS.get(table, {}).get(k) for k in added}, table


def test_downgrade_steps_back_through_every_revision(empty_databases: EmptyDatabases) -> None:
    schemas = reference(empty_databases)
    with engine_for(empty_databases.new()) as engine:
        migrate.upgrade(engine)
        config = migrate.alembic_config(engine)
        for newer, older in zip(REVISIONS[::-1], REVISIONS[-2::-1], strict=False):
            command.downgrade(config, older)
            assert migrate.current_revision(engine) == older, f"from {newer}"
            assert schema_of(engine) == schemas[older], f"downgrading {newer} to {older}"
        command.downgrade(config, "base")
        assert migrate.current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert schema_of(engine) == schemas[REVISIONS[-1]]


def test_server_processes_starting_together_migrate_one_after_the_other(
    empty_databases: EmptyDatabases,
) -> None:
    if empty_databases.backend != "postgresql":
        pytest.skip("on SQLite one server process serves the database")
    url = empty_databases.new()
    start, failures = threading.Barrier(3), []

    def start_a_server() -> None:
        with engine_for(url) as engine:
            start.wait()
            try:
                migrate.upgrade(engine)
            except Exception as exc:  # what a second server starting unguarded would hit
                failures.append(exc)

    starting = [threading.Thread(target=start_a_server, daemon=True) for _ in range(3)]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join(60)
    assert not any(thread.is_alive() for thread in starting), "a migration hangs"
    assert failures == []
    with engine_for(url) as engine:
        assert migrate.current_revision(engine) == migrate.head_revision()
