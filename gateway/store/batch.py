"""Rows written together at the end of a processing batch instead of one statement at a time.

Processing a new ticket writes about ten small rows (its messages, events, outbox mail and the
raw message's new state). Executed one by one, SQLAlchemy's bookkeeping per statement cost more
than the rows themselves; collected for the batch, each statement runs once as an executemany.

Nothing may read a table before its deferred rows are in it, so they are written before every
ORM-level statement of the session (`Session.execute`, `scalar`, `get`: the threader, hand-overs
and agent replies read the ticket's messages) and when the batch ends. A read that bypasses the
ORM (`connection().execute`) sees only what is written: the one such read, the outbox's rate
count, adds the deferred rows itself (`pending`).

Outside `deferring` (the CLI, timers, intake) `write` executes at once, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import Executable

from gateway.store import driver_sql

_KEY = "gateway.deferred"
# Rows are written early once they hold this much text and bytes: a hand-over carries the
# customer's files (up to 25 MB a message), and a batch is PROCESS_BATCH (gateway/runtime/worker.py)
# messages.
WRITE_AT_BYTES = 8_000_000


@dataclass
class _Rows:
    """Statements in the order they were first deferred, each with its rows in order; `serial`
    numbers every row so that a message that fails can take back only its own."""

    statements: dict[Executable, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    serial: int = 0
    size: int = 0  # of the text and bytes held
    generation: int = 0  # how often rows were written: what was read before may be out of date

    def add(self, statement: Executable, values: dict[str, Any]) -> None:
        self.serial += 1
        self.statements.setdefault(statement, []).append((self.serial, values))
        self.size += sum(len(v) for v in values.values() if isinstance(v, str | bytes))

    def write(self, session: Session) -> None:
        statements, self.statements, self.size = self.statements, {}, 0
        self.generation += 1
        connection = session.connection()
        for statement, rows in statements.items():
            _executemany(connection, statement, [values for _, values in rows])

    def discard_after(self, mark: int) -> None:
        for statement, rows in list(self.statements.items()):
            kept = [row for row in rows if row[0] <= mark]
            if kept:
                self.statements[statement] = kept
            else:
                del self.statements[statement]


def _executemany(connection: Connection, statement: Executable, rows: list[dict[str, Any]]) -> None:
    keys = frozenset(rows[0])
    driver = None
    if all(row.keys() == keys for row in rows):
        driver = driver_sql.compile(statement, connection.dialect, keys)
    if driver:
        driver.executemany(connection, rows)
    else:
        connection.execute(statement, rows)


@contextmanager
def deferring(session: Session) -> Iterator[None]:
    """Defer `write`s of this session until the block ends (or an ORM statement needs them)."""
    rows = _Rows()
    session.info[_KEY] = rows
    try:
        yield
        rows.write(session)
    finally:
        del session.info[_KEY]


def write(session: Session, statement: Executable, values: dict[str, Any]) -> None:
    """Execute `statement` (an INSERT or UPDATE without RETURNING) with `values`, now or, in a
    deferring session, with the batch."""
    rows: _Rows | None = session.info.get(_KEY)
    if rows is None:
        session.connection().execute(statement, values)
        return
    rows.add(statement, values)
    if rows.size >= WRITE_AT_BYTES:
        rows.write(session)


def pending(session: Session, statement: Executable, keep: Callable[[dict[str, Any]], bool]) -> int:
    """How many deferred, not yet written rows of `statement` `keep` accepts."""
    rows: _Rows | None = session.info.get(_KEY)
    if rows is None:
        return 0
    return sum(1 for _, values in rows.statements.get(statement, ()) if keep(values))


def active(session: Session) -> bool:
    """Whether `session` defers its writes (a processing batch)."""
    return _KEY in session.info


def last(session: Session, statement: Executable) -> dict[str, Any] | None:
    """The values of the last deferred, not yet written row of `statement`."""
    rows: _Rows | None = session.info.get(_KEY)
    waiting = rows.statements.get(statement) if rows else None
    return waiting[-1][1] if waiting else None


def generation(session: Session) -> int | None:
    """Changes whenever the deferred rows are written; None outside `deferring`."""
    rows: _Rows | None = session.info.get(_KEY)
    return rows.generation if rows else None


def mark(session: Session) -> int:
    """Where the deferred rows stand now; see `take_back`."""
    rows: _Rows | None = session.info.get(_KEY)
    return rows.serial if rows else 0


def take_back(session: Session, since: int) -> None:
    """Forget the rows deferred after `mark` returned `since` (a message that failed: its
    savepoint takes back what was already written)."""
    rows: _Rows | None = session.info.get(_KEY)
    if rows:
        rows.discard_after(since)


@event.listens_for(Session, "do_orm_execute")
def _write_before_reading(state: ORMExecuteState) -> None:
    rows: _Rows | None = state.session.info.get(_KEY)
    if rows and rows.statements:
        rows.write(state.session)
