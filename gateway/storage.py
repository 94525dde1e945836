"""The one storage module: SQLAlchemy models, the engine, sessions, and the raw-message intake.

Alembic owns the schema (gateway/migrations); `Store.migrate()` brings a database up to date and
runs when the daemon starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler

from gateway import deferred, driver_sql


class StorageUnavailable(Exception):
    """The database cannot be reached or is locked: a temporary fault, the sender should retry."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class RawState(StrEnum):
    """Where a stored message is: waiting to be processed, processed, or kept for `replay`."""

    NEW = "new"
    DONE = "done"
    QUARANTINED = "quarantined"


class TicketStatus(StrEnum):
    NEW = "new"  # nobody answered yet
    OPEN = "open"
    WAITING_CUSTOMER = "waiting_customer"  # closed after support.close_waiting_after
    WAITING_UPSTREAM = "waiting_upstream"  # escalated or forwarded
    CLOSED = "closed"


class OutboxState(StrEnum):
    PENDING = "pending"  # to send, now or at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # refused for good, or not delivered within outbound.give_up_after


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and read back time-zone aware (SQLite forgets the zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class RawMessage(Base):
    """Bytes exactly as received; the durable record that intake commits before saying 250."""

    __tablename__ = "raw_messages"
    __table_args__ = (
        UniqueConstraint("dedupe_key", "content_hash", name="uq_raw_messages_dedupe"),
        UniqueConstraint(
            "imap_mailbox", "imap_uidvalidity", "imap_uid", name="uq_raw_messages_imap_uid"
        ),
        Index("ix_raw_messages_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    via: Mapped[str] = mapped_column(String(16))  # smtp | imap | pipe
    source: Mapped[str] = mapped_column(String(255), default="")  # peer address or mailbox
    # Envelope sender: "" is the null sender of bounces (MAIL FROM:<>), None when not known
    # (IMAP, or a pipe not told).
    mail_from: Mapped[str | None] = mapped_column(String(998))
    rcpt_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    message_id: Mapped[str | None] = mapped_column(String(998))
    # Message-ID (or "" without one) + content hash: a redelivery is the same pair, a different
    # message that reuses a Message-ID is not.
    dedupe_key: Mapped[str] = mapped_column(String(998))
    content_hash: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default=RawState.NEW)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where an IMAP message came from: a crash between commit and MOVE must not fetch it again.
    imap_mailbox: Mapped[str | None] = mapped_column(String(64))
    imap_uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    imap_uid: Mapped[int | None] = mapped_column(BigInteger)


class ImapMailbox(Base):
    """What the gateway knows of one [[imap]] mailbox between runs."""

    __tablename__ = "imap_mailboxes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)  # highest UID taken so far
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Counter(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    subject: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    requester: Mapped[str] = mapped_column(String(998))
    queue: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    assignee: Mapped[str | None] = mapped_column(String(998))  # an agent's address
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    route_action: Mapped[str] = mapped_column(String(16))
    route_target: Mapped[str] = mapped_column(String(64))
    route_rule: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutageCluster(Base):
    """Requests of several customers about one problem: escalated upstream once, not per
    customer. `key` says what they share (a known issue, or category and upstream)."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_key", "key", "last_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(998))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    customers: Mapped[list[str]] = mapped_column(JSON, default=list)
    escalated_ticket: Mapped[int | None] = mapped_column(Integer)  # the number that went upstream


class TicketMessage(Base):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    raw_message_id: Mapped[int | None] = mapped_column(ForeignKey("raw_messages.id"), unique=True)
    direction: Mapped[str] = mapped_column(String(8))  # in | out
    kind: Mapped[str] = mapped_column(String(16))  # customer | agent | upstream | note | system
    from_addr: Mapped[str] = mapped_column(String(998))
    to_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    date: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    what: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TriageLabel(Base):
    """An agent's intent for a ticket: what `gatewayd triage train` learns from. The subject and
    text are the ticket's first customer message, as triage read it."""

    __tablename__ = "triage_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    intent: Mapped[str] = mapped_column(String(32))
    agent: Mapped[str] = mapped_column(String(998))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)


class OutboxMessage(Base):
    """A built message waiting for the relay; its bytes (and so its Message-ID) never change."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_rate", "rate_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))  # acknowledgement | notification | ...
    rate_key: Mapped[str | None] = mapped_column(String(998))
    message_id: Mapped[str] = mapped_column(String(998))
    envelope_from: Mapped[str] = mapped_column(String(998))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- raw intake ---


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


_HEADER_END = re.compile(rb"\r?\n\r?\n")
# Header fields that identify a message's content. Trace fields (Received, Return-Path,
# Delivered-To, Authentication-Results, ARC-*) differ between two deliveries of one message,
# e.g. by SMTP and from the IMAP mailbox, so they are left out of the content hash.
_IDENTITY_FIELDS = (b"message-id", b"date", b"from", b"to", b"cc", b"subject")


def message_identity(data: bytes) -> tuple[str | None, str]:
    """(Message-ID, content hash) of raw bytes, cheaply: no MIME parse on the intake path.

    Neither the header nor the body is split into a list of lines at once: for a 25 MB message
    that took 114 MB. The digest is the same as it always was (it is stored in databases)."""
    match = _HEADER_END.search(data)
    head = data[: match.start()] if match else data
    fields: dict[bytes, bytes] = {}
    for line in _header_lines(head):
        name, sep, value = line.partition(b":")
        name = name.strip().lower()
        if sep and name in _IDENTITY_FIELDS and name not in fields:
            fields[name] = b" ".join(value.split())
    digest = hashlib.sha256()
    for name in _IDENTITY_FIELDS:
        digest.update(name + b":" + fields.get(name, b"") + b"\n")
    if match:
        _hash_body(digest, data, match.end())
    message_id = fields.get(b"message-id", b"").decode("ascii", "replace").strip() or None
    return message_id, digest.hexdigest()


_FIELD_BREAK = re.compile(rb"\r?\n(?![ \t])")  # a line break that is not a fold
_BODY_CHUNK = 1 << 18  # a chunk takes about five times its size while it is hashed


def _header_lines(head: bytes) -> Iterator[bytes]:
    """re.split(_FIELD_BREAK, head), one field at a time."""
    start = 0
    for found in _FIELD_BREAK.finditer(head):
        yield head[start : found.start()]
        start = found.end()
    yield head[start:]


def _hash_body(digest: Any, data: bytes, start: int) -> None:
    """Feed `digest` with b"\\n".join(line.rstrip() for line in body.splitlines()).rstrip() for
    the body data[start:], a chunk of whole lines at a time.

    Each chunk's lines joined end in a non-blank character or in the newlines of blank lines;
    those newlines are held back (`owed`) until text follows, so the final rstrip() drops them."""
    owed = -1  # no separator before the first chunk
    for chunk in _whole_lines(data, start):
        text = b"\n".join(line.rstrip() for line in chunk.splitlines())
        kept = text.rstrip(b"\n")
        owed += 1  # the separator between this chunk's lines and the last one's
        if kept:
            digest.update(b"\n" * owed)
            digest.update(kept)
            owed = 0
        owed += len(text) - len(kept)


def _whole_lines(data: bytes, start: int) -> Iterator[bytes]:
    """data[start:] in chunks of about _BODY_CHUNK that each end at a line break (CR, LF or
    CR LF, as bytes.splitlines() sees them; a CR LF is never cut in two)."""
    while start < len(data):
        end = _line_end(data, start + _BODY_CHUNK)
        yield data[start:end]
        start = end


def _line_end(data: bytes, position: int) -> int:
    """The index just past the first line break at or after `position`, or the end of data."""
    lf = data.find(b"\n", position)
    cr = data.find(b"\r", position, lf if lf >= 0 else len(data))
    if cr >= 0:
        return cr + 2 if data[cr + 1 : cr + 2] == b"\n" else cr + 1
    return lf + 1 if lf >= 0 else len(data)


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
        raise StorageUnavailable(_first_line(exc)) from exc
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


# --- the store ---


class WriteGate:
    """One writing transaction at a time inside this process, intake first (SQLite only).

    SQLite has one write lock, and its busy handler polls without a queue: a thread can miss the
    lock for longer than busy_timeout while others take turns, and intake then answers 451 to
    mail it could have taken. Inside the daemon, writers queue here instead; intake is `urgent`,
    and the processor ends its batch early when intake waits (`urgent_waiting`). The daemon and
    its worker process also queue on a lock file (`between_processes`).
    """

    def __init__(self, between_processes: str = "") -> None:
        self._condition = threading.Condition()
        self._busy = False
        self._urgent = 0
        self._file_lock = _FileLock(between_processes) if between_processes else None

    @contextmanager
    def hold(self, urgent: bool) -> Iterator[None]:
        with self._condition:
            self._urgent += urgent
            try:
                while self._busy or (not urgent and self._urgent):
                    self._condition.wait()
            finally:
                self._urgent -= urgent
            self._busy = True
        try:
            with self._file_lock or nullcontext():
                yield
        finally:
            with self._condition:
                self._busy = False
                self._condition.notify_all()

    def urgent_waiting(self) -> bool:
        return self._urgent > 0

    def close(self) -> None:
        if self._file_lock:
            self._file_lock.close()


class _FileLock:
    """An flock on a file beside the database, taken by the daemon and its worker around each
    write. SQLite's busy handler sleeps up to 100 ms between tries, so intake lost tens of
    milliseconds each time the worker wrote; a waiter on an flock wakes the moment the holder
    lets go, and the kernel frees it when its holder dies. A lock file, not the database file:
    closing any other descriptor of the database would drop SQLite's own locks (fcntl)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc_info: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class IntakeSignal:
    """How busy intake is, in memory shared by the daemon's process and its worker: how many
    intake transactions wait or write, and when the last one ended. The worker lets intake
    write first (SQLite's one write lock; on PostgreSQL the CPU of its own backend), but never
    for longer than _INTAKE_PRECEDENCE, so that a flood of mail slows processing without
    stopping it. Only the daemon's process changes it; the worker only reads."""

    def __init__(self, context: Any) -> None:  # a multiprocessing context
        self._writers = context.RawValue("i", 0)
        self._ended_at = context.RawValue("d", 0.0)  # CLOCK_MONOTONIC is one clock per host
        self._lock = threading.Lock()  # intake and the IMAP readers are threads

    def __getstate__(self) -> dict[str, Any]:
        return {"_writers": self._writers, "_ended_at": self._ended_at}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._lock:
            self._writers.value += 1
        try:
            yield
        finally:
            with self._lock:
                self._writers.value -= 1
                self._ended_at.value = time.monotonic()

    def busy(self) -> bool:
        """Intake writes, waits to, or wrote so recently that more is surely coming."""
        recent = time.monotonic() - self._ended_at.value < _INTAKE_QUIET
        return self._writers.value > 0 or recent

    def wait_quiet(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while self.busy() and time.monotonic() < deadline:
            time.sleep(0.002)


# Chosen, not tuned: bench/smtp_intake.py measured intake alike with the worker processing and
# with processing switched off (1,150 vs 1,170 msg/s), so these do not limit it today.
_MINIMUM_TURN = 0.025  # a writer that yields after every message spends its time on the lock
_INTAKE_PRECEDENCE = 0.25  # the longest the worker waits for intake before it writes anyway
_INTAKE_QUIET = 0.02  # group commits of a flood follow each other closer than this


class Store:
    """Engine and session factories; every transaction of the program goes through `session()`
    (writes) or `reader()` (reads only)."""

    def __init__(self, url: str, echo: bool = False, intake: IntakeSignal | None = None) -> None:
        self.url = url
        self.engine: Engine = _make_engine(url, echo)
        # No autoflush: processing writes rows with Core statements that run at once, and the
        # flush before every query was a third of its time; code that adds ORM objects and then
        # queries them flushes itself (gateway/incidents.py).
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        reading = self.engine.execution_options(sqlite_begin="DEFERRED")
        self._readers = sessionmaker(reading, expire_on_commit=False)
        self._intake = intake
        self._turn = threading.local()
        self.gate: WriteGate | None = None
        if self.dialect == "sqlite":
            shared = intake is not None and url.startswith("sqlite:///")
            self.gate = WriteGate(url.removeprefix("sqlite:///") + "-gate" if shared else "")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, urgent: bool = False) -> Iterator[Session]:
        """One writing transaction: committed on success, rolled back on error."""
        gate = self.gate.hold(urgent) if self.gate else nullcontext()
        with self._intake_first(urgent), gate, _temporary_faults(), self._sessions() as session:
            self._turn.started = time.monotonic()
            with session.begin():
                yield session

    @contextmanager
    def _intake_first(self, urgent: bool) -> Iterator[None]:
        if self._intake is None:
            yield
        elif urgent:
            with self._intake.writing():
                yield
        else:
            self._intake.wait_quiet(_INTAKE_PRECEDENCE)
            yield

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A transaction that only reads: it takes no write lock and waits for no writer."""
        with _temporary_faults(), self._readers() as session, session.begin():
            yield session

    def should_yield(self) -> bool:
        """A long writer (the processor) should commit now: intake is waiting."""
        waiting = self.gate.urgent_waiting() if self.gate else False
        if not (waiting or (self._intake and self._intake.busy())):
            return False
        return time.monotonic() - getattr(self._turn, "started", 0.0) >= _MINIMUM_TURN

    def migrate(self) -> None:
        """Bring the schema to the newest revision; takes the write lock only when needed."""
        from gateway.migrations import is_current, upgrade

        with _temporary_faults(), self._one_migration_at_a_time():
            if not is_current(self.engine):
                upgrade(self.engine)

    @contextmanager
    def _one_migration_at_a_time(self) -> Iterator[None]:
        """Daemons started together on an empty PostgreSQL database would each create the
        tables, and all but one fail; they take turns on an advisory lock, and the later ones
        find the schema current. (SQLite's write lock already serialises the upgrade.)"""
        if self.dialect != "postgresql":
            yield
            return
        key = {"key": lock_key("schema-migration")}
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)

    def insert_raw(self, items: Sequence[IncomingRaw]) -> list[int | None]:
        """Store raw messages in one transaction (group commit); a redelivery gives None."""
        with self.session(urgent=True) as session:
            return insert_raw_rows(session, items)

    def close(self) -> None:
        self.engine.dispose()
        if self.gate:
            self.gate.close()


def lock_key(name: str) -> int:
    """The 64-bit key of a named PostgreSQL advisory lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class AdvisoryLock:
    """Held by one daemon at a time among those sharing a PostgreSQL database (an advisory
    lock on a connection of its own: it goes when that daemon or its connection dies, so
    another takes over within seconds). On SQLite it is always held: one daemon per file."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.key = lock_key(name)
        self._connection: Any = None
        self._held = False

    def acquire(self) -> bool:
        if self.store.dialect != "postgresql":
            return True
        if self._held:
            return self.still_held()  # taking it again would stack the lock on the session
        try:
            with _temporary_faults():
                if self._connection is None:
                    self._connection = self.store.engine.connect()
                self._held = bool(self._connection.execute(_TRY_LOCK, {"key": self.key}).scalar())
                self._connection.commit()
        except Exception:
            # A connection broken by a database restart is never asked again: it would answer
            # every later try with PendingRollbackError, and a daemon standing by would never
            # take the lock over, even when its holder died.
            self.release()
            raise
        return self._held

    def still_held(self) -> bool:
        if self._connection is None:
            return self.store.dialect != "postgresql"
        try:
            self._connection.execute(_ALIVE)
            self._connection.commit()
        except SQLAlchemyError:
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                # Invalidate, not close: a pooled connection would keep the session, and the
                # lock with it.
                self._connection.invalidate()
                self._connection.close()
            self._connection = None
        self._held = False


_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_ALIVE = text("SELECT 1")


@contextmanager
def _temporary_faults() -> Iterator[None]:
    """A database that is down, locked or gone is a temporary fault: StorageUnavailable."""
    try:
        yield
    except OperationalError as exc:
        raise StorageUnavailable(_describe(exc)) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StorageUnavailable(_describe(exc)) from exc
        raise


def _describe(exc: DBAPIError) -> str:
    return _first_line(exc.orig) if exc.orig else str(exc)


def _first_line(error: BaseException) -> str:
    """The driver's message without its context lines (psycopg adds the query's position)."""
    return (str(error).splitlines() or [repr(error)])[0]


def sqlite_path_problem(url: str) -> str | None:
    """Why the SQLite file of `url` cannot be made or written, or None; changes nothing.
    `check-config` asks, so that a path the daemon cannot use is found before it starts."""
    if not url.startswith("sqlite:///"):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    if path.exists():
        writable = path.is_file() and os.access(path, os.R_OK | os.W_OK)
        return None if writable else f"{path} is not a file the daemon can write"
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        return f"cannot create {path.parent}: {existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot create {path}: {existing} is not writable"
    return None


def _make_engine(url: str, echo: bool) -> Engine:
    if url.startswith("sqlite:///"):
        folder = Path(url.removeprefix("sqlite:///")).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a mount not there yet is as temporary as a database down
            raise StorageUnavailable(f"cannot create {folder}: {exc.strerror}") from None
        engine = create_engine(url, echo=echo, connect_args={"timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Set in the URL (?connect_timeout=30), a parameter is the admin's and stays as given.
    given = make_url(url).query
    connect_args = {k: v for k, v in _PG_CONNECT.items() if k not in given}
    engine = create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)
    event.listen(engine, "connect", _pg_server_keepalives)
    return engine


# A database that does not answer: connecting gives up after connect_timeout (intake then
# answers 451 and `ingest` exits 75, instead of both waiting for ever), and TCP keepalives find
# a peer host that is gone within about 25 s rather than the kernel's two hours.
_PG_CONNECT = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def _pg_server_keepalives(connection: Any, record: Any) -> None:
    # The server's side of the same: when a daemon's host dies, its sessions end within about
    # 25 s, and the locks they held (a mailbox, a ticket timer job, an outgoing message, raw
    # messages in work) go to another daemon. SET rather than a startup `options` parameter,
    # which connection poolers such as PgBouncer refuse.
    with connection.cursor() as cursor:
        cursor.execute(
            "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;"
            " SET tcp_keepalives_count = 3"
        )
    connection.commit()


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented recipe is to
    # switch it off and emit BEGIN ourselves (see _sqlite_begin).
    connection.isolation_level = None
    # WAL lets readers (the CLI) work while the daemon writes; synchronous=FULL makes a commit
    # survive power loss, which is what a 250 promises.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock at once: two processes (daemon, `ingest`, `replay`) that
    # read then write would otherwise deadlock on the lock upgrade, which busy_timeout cannot fix.
    # Readers begin DEFERRED and, in WAL mode, never wait for a writer.
    mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {mode}")


def next_ticket_number(session: Session) -> int:
    """Never the same twice. On PostgreSQL a sequence (migration 0005: it locks nothing, so
    daemons sharing the database do not wait for each other's batches; numbers may have gaps)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return int(connection.execute(_NEXT_FROM_SEQUENCE).scalar_one())
    if not deferred.active(session):
        return int(connection.execute(_NEXT_TICKET_NUMBER).scalar_one())
    # In a processing batch, which holds SQLite's write lock from its first statement, the
    # counter is read once and its new value written with the batch's rows. The number comes
    # from the last value not yet written, so a message that fails (and whose rows are taken
    # back) leaves no gap; once written, the counter itself has it.
    waiting = deferred.last(session, _SET_TICKET_NUMBER)
    current = waiting["value"] if waiting else connection.execute(_TICKET_NUMBER).scalar_one()
    deferred.write(session, _SET_TICKET_NUMBER, {"value": current + 1})
    return int(current + 1)


# Core, built once: the ORM's bulk-update machinery cost a millisecond per ticket.
_NEXT_FROM_SEQUENCE = text("SELECT nextval('ticket_numbers')")
_COUNTERS = Counter.__table__
_NEXT_TICKET_NUMBER = (
    update(_COUNTERS)
    .where(_COUNTERS.c.name == "ticket")
    .values(value=_COUNTERS.c.value + 1)
    .returning(_COUNTERS.c.value)
)
_TICKET_NUMBER = select(_COUNTERS.c.value).where(_COUNTERS.c.name == "ticket")
_SET_TICKET_NUMBER = (
    update(_COUNTERS).where(_COUNTERS.c.name == "ticket").values(value=bindparam("value"))
)
