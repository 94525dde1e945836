"""The engine and its sessions: every transaction of the program goes through `Store`.

`Store.migrate()` brings a database up to date and runs when the daemon starts."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from gateway.store.faults import StorageUnavailable, temporary_faults
from gateway.store.locks import IntakeSignal, WriteGate, lock_key
from gateway.store.raw_messages import IncomingRaw, insert_raw_rows

# Chosen, not tuned: bench/smtp_intake.py measures intake alike with the worker processing and
# with processing switched off (docs/PERFORMANCE.md), so these do not limit it today.
_MINIMUM_TURN = 0.025  # a writer that yields after every message spends its time on the lock
_INTAKE_PRECEDENCE = 0.25  # the longest the worker waits for intake before it writes anyway


class Store:
    """Engine and session factories; every transaction of the program goes through `session()`
    (writes) or `reader()` (reads only)."""

    def __init__(self, url: str, echo: bool = False, intake: IntakeSignal | None = None) -> None:
        self.url = url
        self.engine: Engine = _make_engine(url, echo)
        # No autoflush: processing writes rows with Core statements that run at once, and the
        # flush before every query was a third of its time; code that adds ORM objects and then
        # queries them flushes itself (gateway/processing/outages.py).
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
        with self._intake_first(urgent), gate, temporary_faults(), self._sessions() as session:
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
        with temporary_faults(), self._readers() as session, session.begin():
            yield session

    def should_yield(self) -> bool:
        """A long writer (the processor) should commit now: intake is waiting."""
        waiting = self.gate.urgent_waiting() if self.gate else False
        if not (waiting or (self._intake and self._intake.busy())):
            return False
        return time.monotonic() - getattr(self._turn, "started", 0.0) >= _MINIMUM_TURN

    def migrate(self) -> None:
        """Bring the schema to the newest revision; takes the write lock only when needed."""
        from gateway.store.migrations import is_current, upgrade

        with temporary_faults(), self._one_migration_at_a_time():
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
