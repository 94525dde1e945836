"""imap mailboxes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 14:04:50.363381
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imap_mailboxes",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("raw_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("imap_mailbox", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("imap_uidvalidity", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("imap_uid", sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(
            "uq_raw_messages_imap_uid", ["imap_mailbox", "imap_uidvalidity", "imap_uid"]
        )


def downgrade() -> None:
    with op.batch_alter_table("raw_messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_raw_messages_imap_uid", type_="unique")
        batch_op.drop_column("imap_uid")
        batch_op.drop_column("imap_uidvalidity")
        batch_op.drop_column("imap_mailbox")

    op.drop_table("imap_mailboxes")
