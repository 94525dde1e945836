"""Raw messages as intake stores them: one row per message received, written before 250."""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from gateway.store import driver_sql
from gateway.store.batch import Batch
from gateway.store.faults import StorageUnavailable, first_line
from gateway.store.models import RawMessage, RawState, utcnow
from parsers.message_identity import message_identity


@dataclass(frozen=True)
class IncomingRaw:
    data: bytes
    via: str
    source: str = ""
    mail_from: str | None = None
    rcpt_to: tuple[str, ...] = ()
    imap_mailbox: str | None = None
    imap_uidvalidity: int | None = None
    imap_uid: int | None = None

    @functools.cached_property
    def identity(self) -> tuple[str | None, str, str]:
        """(Message-ID, content hash, SHA-256 of the bytes). SMTP intake computes it before the
        message joins a batch, while the batch before commits: otherwise the batch's senders
        wait for it message after message inside the transaction."""
        message_id, content_hash = message_identity(self.data)
        return message_id, content_hash, hashlib.sha256(self.data).hexdigest()


def _raw_row(item: IncomingRaw, now: datetime) -> dict[str, Any]:
    message_id, content_hash, sha256 = item.identity
    message_id = _without_nul(message_id)[:998] if message_id else None
    return {
        "received_at": now,
        "via": item.via,
        "source": _without_nul(item.source)[:255],
        "mail_from": _without_nul(item.mail_from) if item.mail_from is not None else None,
        "rcpt_to": [_without_nul(rcpt) for rcpt in item.rcpt_to],
        "message_id": message_id,
        "dedupe_key": message_id or "",
        "content_hash": content_hash,
        "sha256": sha256,
        "size": len(item.data),
        "data": item.data,
        "state": RawState.NEW,
        "attempts": 0,
        "imap_mailbox": item.imap_mailbox,
        "imap_uidvalidity": item.imap_uidvalidity,
        "imap_uid": item.imap_uid,
    }


def _without_nul(text: str) -> str:
    """PostgreSQL's text columns refuse NUL, and a message whose Message-ID or envelope held
    one would fail its whole batch each time it came back. The bytes keep it."""
    return text.replace("\x00", "")


def insert_raw_rows(session: Session, items: Sequence[IncomingRaw]) -> list[int | None]:
    """Insert raw messages; one already stored (same identity, or same IMAP UID) gives None.

    Intake's hot path, so it runs on the driver's cursor with a statement SQLAlchemy compiled
    once (_RawInsert), not through SQLAlchemy's execution, whose bookkeeping per row cost more
    than SQLite's own insert and held the GIL that the SMTP sessions wait for."""
    if not items:
        return []
    now = utcnow()
    connection = session.connection()
    insert = _RawInsert.compile(connection.dialect)
    rows = [insert.params(_raw_row(item, now)) for item in items]
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        return insert.run(cursor, rows)
    except connection.dialect.loaded_dbapi.OperationalError as exc:  # SQLAlchemy wraps no error
        # A lost connection needs nothing more: the session's rollback fails on it, and
        # SQLAlchemy then drops it from the pool.
        raise StorageUnavailable(first_line(exc)) from exc
    finally:
        cursor.close()


@dataclass(frozen=True)
class _RawInsert:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id for one dialect, compiled by SQLAlchemy, with
    the columns' own bind processors: the values are sent as SQLAlchemy would send them."""

    sql: str
    keys: tuple[str, ...]  # in the order of the statement's parameters
    positional: bool
    processors: dict[str, Any]
    pipelined: bool

    @staticmethod
    @functools.cache
    def compile(dialect: Dialect) -> _RawInsert:
        keys = tuple(_raw_row(IncomingRaw(data=b"", via="", source=""), utcnow()))
        insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect.name]
        statement = insert(_RAW).on_conflict_do_nothing().returning(_RAW.c.id)
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)
        order, processors = driver_sql.parameters(compiled, dialect)
        positional = bool(compiled.positional)
        return _RawInsert(
            str(compiled), order, positional, processors, dialect.name == "postgresql"
        )

    def params(self, row: dict[str, Any]) -> Any:
        values = {
            key: processor(row[key]) if (processor := self.processors.get(key)) else row[key]
            for key in self.keys
        }
        return tuple(values.values()) if self.positional else values

    def run(self, cursor: Any, rows: list[Any]) -> list[int | None]:
        if not self.pipelined:  # SQLite: in-process, a statement costs no round trip
            return [self._returned_id(cursor.execute(self.sql, row)) for row in rows]
        ids: list[int | None] = []
        for large, group in itertools.groupby(rows, key=self._is_large):
            if large:
                ids += [self._returned_id(cursor.execute(self.sql, row)) for row in group]
            else:
                ids += self._pipelined(cursor, list(group))
        return ids

    def _is_large(self, row: Any) -> bool:
        """A message whose copy in the driver's output buffer counts. Pipelined, the buffer
        holds the whole batch's bytes at once; intake's memory budget keeps room for the
        copies of one message (smtp_session.STORAGE_COPIES), so large ones go one by one,
        where their transfer takes longer than a round trip anyway."""
        size = row[self._size_at] if self.positional else row["size"]
        return int(size) > PIPELINE_AT_MOST

    @functools.cached_property
    def _size_at(self) -> int:
        return self.keys.index("size")

    def _pipelined(self, cursor: Any, rows: list[Any]) -> list[int | None]:
        # PostgreSQL: psycopg sends the batch's statements at once (pipeline mode) and keeps
        # each one's result: one round trip for the batch instead of one per message, and
        # intake's senders wait for all of them.
        cursor.executemany(self.sql, rows, returning=True)
        ids = [self._returned_id(cursor)]
        while cursor.nextset():
            ids.append(self._returned_id(cursor))
        return ids

    @staticmethod
    def _returned_id(cursor: Any) -> int | None:
        returned = cursor.fetchone()
        return int(returned[0]) if returned else None


_RAW = RawMessage.__table__
# PostgreSQL: messages larger than this are sent in statements of their own (_RawInsert).
PIPELINE_AT_MOST = 1 << 20
# The most copies of one message that a driver holds while the store writes it, one message at a
# time; intake's memory budget keeps room for them (gateway/intake/smtp_session.py). SQLite: two,
# as pysqlite binds the bytes SQLITE_TRANSIENT and SQLite builds the row's record around its
# copy. A `zeroblob` written through a blob handle saves nothing where the bytes are not the
# row's last column, and with `data` last each UPDATE of a row's state rewrote the whole record
# (docs/PERFORMANCE.md). psycopg: one, its output buffer, as large messages go one by one.
STORAGE_COPIES = 2


# The processor's statements, in Core and built once: an ORM load and an ORM flush of each raw
# message cost more than its processing. One message's bytes at a time, so that a batch of
# large ones does not pile up; only those the parser stage took, each at most its MAX_BYTES,
# are loaded together.
_COLUMNS = select(
    _RAW.c.id, _RAW.c.state, _RAW.c.mail_from, _RAW.c.rcpt_to, _RAW.c.data, _RAW.c.received_at
)
_LOAD = _COLUMNS.where(_RAW.c.id == bindparam("raw_id"))
_LOAD_MANY = _COLUMNS.where(_RAW.c.id.in_(bindparam("raw_ids", expanding=True)))
_MARK_DONE = (
    update(_RAW)
    .where(_RAW.c.id == bindparam("raw_id"))
    .values(
        state=RawState.DONE, processed_at=bindparam("now"), error=None, attempts=_RAW.c.attempts + 1
    )
)


def take_new(session: Session, limit: int, among: Sequence[int] | None = None) -> Sequence[int]:
    """The first `limit` new messages (of `among`, if given), locked for this transaction.
    Several daemons on one PostgreSQL database each take other messages (SKIP LOCKED); SQLite
    has one writer at a time anyway and ignores the clause."""
    statement = select(RawMessage.id).where(RawMessage.state == RawState.NEW)
    if among is not None:
        statement = statement.where(RawMessage.id.in_(among))
    statement = statement.order_by(RawMessage.id).limit(limit).with_for_update(skip_locked=True)
    return session.scalars(statement).all()


def load(batch: Batch, raw_id: int) -> RawMessage:
    """The stored message, not attached to the session: processing never changes it."""
    row = batch.session.connection().execute(_LOAD, {"raw_id": raw_id}).one()
    return RawMessage(**row._mapping)


def load_many(batch: Batch, raw_ids: Sequence[int]) -> dict[int, RawMessage]:
    if not raw_ids:
        return {}
    rows = batch.session.connection().execute(_LOAD_MANY, {"raw_ids": list(raw_ids)})
    return {row.id: RawMessage(**row._mapping) for row in rows}


def mark_done(batch: Batch, raw_id: int) -> None:
    batch.add(_MARK_DONE, {"raw_id": raw_id, "now": utcnow()})


def quarantine(batch: Batch, raw_id: int, reason: str) -> None:
    """Kept with its reason for `gatewayd replay --quarantined`."""
    raw = batch.get_one(RawMessage, raw_id)
    raw.state, raw.error, raw.processed_at = RawState.QUARANTINED, reason, utcnow()
    raw.attempts += 1
    batch.session.flush()
    batch.session.expunge(raw)  # its bytes need not stay in memory for the rest of the batch
