"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.functional.api.conftest import Api, Database
from vfplane.db import compute_tables, migrate
from vfplane.db.tables import Base


def test_migrations_match_the_models(database: Database) -> None:
    assert compute_tables.Server.__table__.metadata is Base.metadata
    assert migrate.current_revision(database.engine) == migrate.head_revision()
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent(database: Database) -> None:
    migrate.upgrade(database.engine)
    assert migrate.current_revision(database.engine) == migrate.head_revision()


def test_openapi_document(api: Api) -> None:
    document = api.get(None, "/openapi.json").json()
    assert document["info"]["title"] == "vfplane"
    assert "/network/v2.0/networks" in document["paths"]
    assert "/identity/v3/auth/tokens" in document["paths"]
