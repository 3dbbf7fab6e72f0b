"""Run the Alembic migrations shipped in ``vfplane.db.migrations``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, text

from vfplane.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


MIGRATION_LOCK = 0x7666706C  # PostgreSQL advisory lock key ("vfpl") held while migrating


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; a no-op when it is there already. A schema newer
    than this vfplane knows (a newer release migrated it) is refused, naming both. On
    PostgreSQL, server processes starting together migrate one after the other."""
    with _migration_lock(engine):
        found = current_revision(engine)
        if found is not None and not _known(found):
            raise ConfigError(
                f"the database schema is at revision {found}, which this vfplane does not "
                f"know (it knows up to {head_revision()}): a newer vfplane migrated it; run "
                "that release or a newer one"
            )
        command.upgrade(alembic_config(engine), revision)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """PostgreSQL: an advisory lock for the session of one connection, for as long as the
    migration runs (released if the process dies). SQLite serves one server process."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is not None
    except CommandError:  # Alembic's "Can't locate revision"
        return False
