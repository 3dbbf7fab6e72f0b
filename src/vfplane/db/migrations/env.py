"""Alembic environment: the engine comes from ``config.attributes["engine"]``."""

from __future__ import annotations

from alembic import context

from vfplane.db import compute_tables  # noqa: F401  (its tables join Base.metadata)
from vfplane.db.tables import Base

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
