"""triage labels: the intents agents gave tickets

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:45:00

An agent's correction of a route (`#intent <name>`, `#escalate` of a ticket that was handled) is
kept with the text triage read, so that `gatewayd triage train` can learn this partner's mail.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=998), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("triage_labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_triage_labels_ticket_id"), ["ticket_id"])


def downgrade() -> None:
    with op.batch_alter_table("triage_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triage_labels_ticket_id"))
    op.drop_table("triage_labels")
