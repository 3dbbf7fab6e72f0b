"""events (failed bindings, no valid host), each VF's saved original state, and an index
for the dashboard's host pages (physnet, host)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("server_id", sa.String(length=36), nullable=True),
        sa.Column("port_id", sa.String(length=36), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_created_at"), ["created_at"], unique=False)
    with op.batch_alter_table("pci_devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("saved_original", sa.JSON(), nullable=True))
        batch_op.create_index(
            "ix_pci_devices_physnet_host", ["physical_network", "host"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pci_devices", schema=None) as batch_op:
        batch_op.drop_index("ix_pci_devices_physnet_host")
        batch_op.drop_column("saved_original")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_created_at"))
    op.drop_table("events")
