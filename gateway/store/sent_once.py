"""What must happen once among all daemons sharing a database: a key claimed in the same
transaction that queues its mail. A second daemon's claim waits for the first one's commit
(the primary key) and then finds the key taken; a rolled-back run leaves no key, and the next
run does the work."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.clock import now
from gateway.store.models import SentOnce


def claim(session: Session, key: str) -> bool:
    """True if `key` was not claimed before: the caller does the work in this transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(SentOnce).values(key=key, at=now()).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg's rowcount of a statement that inserted nothing was -1.
    return session.execute(statement.returning(SentOnce.key)).scalar() is not None


def claimed(session: Session, key: str) -> bool:
    return session.get(SentOnce, key) is not None
