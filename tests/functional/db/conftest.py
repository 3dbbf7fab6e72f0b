"""Fresh, empty databases: SQLite files, and (with VFPLANE_TEST_DATABASE_URL) PostgreSQL
schemas of the test database (made the connections' search path; far quicker to create
than databases), dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.functional.api.conftest import PG_URL, _backends, database  # noqa: F401  (fixture)


class EmptyDatabases:
    """Makes empty databases of one backend (``sqlite`` or ``postgresql``) on demand."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self._tmp_path = tmp_path
        self._created: list[str] = []

    def new(self) -> str:
        """The URL of another empty database."""
        name = f"vfplane_db_test_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            return f"sqlite:///{self._tmp_path / (name + '.db')}"
        self._run(f'CREATE SCHEMA "{name}"')
        self._created.append(name)
        assert PG_URL is not None
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={name}"})
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self._created:
            self._run(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        self._created.clear()

    def _run(self, statement: str) -> None:
        assert PG_URL is not None
        url = make_url(PG_URL).set(drivername="postgresql+psycopg")
        engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()


@pytest.fixture(params=_backends())
def empty_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmptyDatabases]:
    made = EmptyDatabases(str(request.param), tmp_path)
    yield made
    made.drop_all()
