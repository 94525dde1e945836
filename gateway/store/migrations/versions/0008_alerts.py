"""alerts: the problems told to the admin-agents and not yet resolved

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:00:00

One row per problem raised (a mailbox not read, a worker that keeps dying, an outbox that keeps
growing, a disk filling up). In the database, not in a daemon's memory, so that each problem is
told once although several daemons watch it, and once again after a restart only when it is
resolved.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("alerts")
