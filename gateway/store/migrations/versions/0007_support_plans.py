"""support plans: agents' time entries and the record of what is sent once

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00

`#time` entries per ticket and agent (billable or not, with a note), and one row per monthly
statement run, daily digest and usage notice, so that several daemons send each exactly once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "time_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=998), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("raw_message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.ForeignKeyConstraint(["raw_message_id"], ["raw_messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("time_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_time_entries_ticket_id"), ["ticket_id"])
        batch_op.create_index("ix_time_entries_at", ["at"])
    op.create_table(
        "sent_once",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("sent_once")
    with op.batch_alter_table("time_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_time_entries_at")
        batch_op.drop_index(batch_op.f("ix_time_entries_ticket_id"))
    op.drop_table("time_entries")
