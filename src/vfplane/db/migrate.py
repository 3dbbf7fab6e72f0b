"""Run the Alembic migrations shipped in ``vfplane.db.migrations``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine

from vfplane.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; a no-op when it is there already. A schema newer
    than this vfplane knows (a newer release migrated it) is refused, naming both."""
    found = current_revision(engine)
    if found is not None and not _known(found):
        raise ConfigError(
            f"the database schema is at revision {found}, which this vfplane does not know "
            f"(it knows up to {head_revision()}): a newer vfplane migrated it; run that "
            "release or a newer one"
        )
    command.upgrade(alembic_config(engine), revision)


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
