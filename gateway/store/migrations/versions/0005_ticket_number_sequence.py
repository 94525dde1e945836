"""ticket numbers from a sequence on PostgreSQL

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 17:30:00

The counter row's lock was held until the processor's batch committed, so several daemons on one
PostgreSQL database made tickets one batch at a time. nextval() takes no such lock. A number
taken by a batch that rolls back is not used again: numbers can have gaps, never repeats.
SQLite, with one writer at a time, keeps the counter row.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SEQUENCE ticket_numbers")
    # Go on from the counter: setval's third argument false means "the next nextval is this".
    op.execute(
        "SELECT setval('ticket_numbers', value + 1, false) FROM counters WHERE name = 'ticket'"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "UPDATE counters SET value = (SELECT last_value FROM ticket_numbers) WHERE name = 'ticket'"
    )
    op.execute("DROP SEQUENCE ticket_numbers")
