"""The batch writer: rows of one processing batch written together, one executemany per
statement, instead of one statement at a time.

Processing a new ticket writes about ten small rows (its messages, events, outbox mail and the
raw message's new state). Executed one by one, SQLAlchemy's bookkeeping per statement cost more
than the rows themselves; collected for the batch, each statement runs once as an executemany.

Every stage is handed the `Batch` and the call sites show when rows are written:
- `batch.add(statement, values)` keeps a row for later;
- `batch.execute`, `scalars`, `scalar` and `get` write the rows kept so far, then read: nothing
  reads a table before its rows are in it;
- `batch.session` is the plain session, for ORM objects (`batch.session.add(ticket)`) and for
  Core reads that must not write first; such a read sees only what is written, so one that
  counts rows adds `batch.pending(...)` itself (the outbox's rate count does);
- `batch.flush()` writes at once; the batch's end writes the rest.

Outside processing (the CLI, timers, commands run by hand) `Batch.immediate(session)` writes
each row at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Result
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import Executable

from gateway.store import driver_sql

# Rows are written early once they hold this much text and bytes: a hand-over carries the
# customer's files (up to 25 MB a message), and a batch is PROCESS_BATCH (gateway/runtime/worker.py)
# messages.
WRITE_AT_BYTES = 8_000_000
T = TypeVar("T")


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


class Batch:
    """The rows of one transaction, kept and written together (see the module's docstring)."""

    def __init__(self, session: Session, deferring: bool = True) -> None:
        self.session = session
        self._rows: _Rows | None = _Rows() if deferring else None
        self.info: dict[str, Any] = {}  # what a stage keeps for the rest of the batch

    @classmethod
    def immediate(cls, session: Session) -> Batch:
        """A batch that writes every row at once: for work done outside processing."""
        return cls(session, deferring=False)

    @property
    def deferring(self) -> bool:
        return self._rows is not None

    def add(self, statement: Executable, values: dict[str, Any]) -> None:
        """Execute `statement` (an INSERT or UPDATE without RETURNING) with `values`, with the
        batch's other rows or, for an immediate batch, now."""
        if self._rows is None:
            self.session.connection().execute(statement, values)
            return
        self._rows.add(statement, values)
        if self._rows.size >= WRITE_AT_BYTES:
            self._rows.write(self.session)

    def flush(self) -> None:
        """Write the rows kept so far."""
        if self._rows and self._rows.statements:
            self._rows.write(self.session)

    def execute(self, statement: Executable, params: dict[str, Any] | None = None) -> Result[Any]:
        self.flush()
        return self.session.execute(statement, params)

    def scalars(self, statement: Executable) -> Any:
        self.flush()
        return self.session.scalars(statement)

    def scalar(self, statement: Executable) -> Any:
        self.flush()
        return self.session.scalar(statement)

    def get(self, model: type[T], ident: Any) -> T | None:
        """An object by primary key: from the session if loaded, else read after a flush."""
        if identity_key(model, ident) not in self.session.identity_map:
            self.flush()
        return self.session.get(model, ident)

    def get_one(self, model: type[T], ident: Any) -> T:
        found = self.get(model, ident)
        if found is None:
            raise LookupError(f"no {model.__name__} {ident!r}")
        return found

    def pending(self, statement: Executable, keep: Callable[[dict[str, Any]], bool]) -> int:
        """How many kept, not yet written rows of `statement` `keep` accepts."""
        if self._rows is None:
            return 0
        return sum(1 for _, values in self._rows.statements.get(statement, ()) if keep(values))

    def last(self, statement: Executable) -> dict[str, Any] | None:
        """The values of the last kept, not yet written row of `statement`."""
        waiting = self._rows.statements.get(statement) if self._rows else None
        return waiting[-1][1] if waiting else None

    @property
    def generation(self) -> int | None:
        """Changes whenever the kept rows are written; None for an immediate batch."""
        return self._rows.generation if self._rows else None

    def mark(self) -> int:
        """Where the kept rows stand now; see `take_back`."""
        return self._rows.serial if self._rows else 0

    def take_back(self, since: int) -> None:
        """Forget the rows kept after `mark` returned `since` (a message that failed: its
        savepoint takes back what was already written)."""
        if self._rows:
            self._rows.discard_after(since)


@contextmanager
def writing(session: Session) -> Iterator[Batch]:
    """A deferring batch on `session`, whose rows are written when the block ends."""
    batch = Batch(session)
    yield batch
    batch.flush()
