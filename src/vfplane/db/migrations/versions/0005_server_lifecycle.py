"""server lifecycle: boot generation, reboot type, host NUMA cells

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("generation", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("reboot_type", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("numa_nodes", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_column("numa_nodes")
        batch_op.drop_column("reboot_type")
        batch_op.drop_column("generation")
