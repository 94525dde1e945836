"""service requests: escalations to Partner Center, their notes, Graph service health

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:20:00

An escalation of a direct-bill customer's ticket becomes a Partner Center service request,
queued durably like outgoing mail (`service_requests`); an agent's #upstream note waits in
`service_request_notes`; Graph's service health issues per tenant are kept in
`service_health_snapshots` for the processor.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("support_topic_id", sa.String(length=32), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("notes_seen", sa.Integer(), nullable=False),
        sa.Column("our_notes", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("polled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_requests_ticket_id"), ["ticket_id"])
        batch_op.create_index(batch_op.f("ix_service_requests_request_id"), ["request_id"])
        batch_op.create_index("ix_service_requests_due", ["state", "next_attempt_at"])
    op.create_table(
        "service_request_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_request_id", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=998), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["service_request_id"], ["service_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("service_request_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_request_notes_service_request_id"), ["service_request_id"]
        )
        batch_op.create_index("ix_service_request_notes_due", ["state", "next_attempt_at"])
    op.create_table(
        "service_health_snapshots",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.Column("issues", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )


def downgrade() -> None:
    op.drop_table("service_health_snapshots")
    with op.batch_alter_table("service_request_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_service_request_notes_due")
        batch_op.drop_index(batch_op.f("ix_service_request_notes_service_request_id"))
    op.drop_table("service_request_notes")
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_service_requests_due")
        batch_op.drop_index(batch_op.f("ix_service_requests_request_id"))
        batch_op.drop_index(batch_op.f("ix_service_requests_ticket_id"))
    op.drop_table("service_requests")
