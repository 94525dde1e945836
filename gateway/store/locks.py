"""Who writes when: SQLite's one writer shared fairly between intake and the worker, and PostgreSQL
advisory locks for jobs that one daemon runs at a time."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from gateway.store.faults import temporary_faults

if TYPE_CHECKING:
    from gateway.store.engine import Store

_INTAKE_QUIET = 0.02  # group commits of a flood follow each other closer than this


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
            with temporary_faults():
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
                if self._held:
                    # Unlocked before the connection goes: its backend ends a moment after the
                    # socket closes, and until then another daemon would still be refused.
                    self._connection.execute(_UNLOCK, {"key": self.key})
                    self._connection.commit()
            with contextlib.suppress(SQLAlchemyError):
                # Invalidate, not close: a pooled connection would keep the session, and the
                # lock with it, had the unlock failed.
                self._connection.invalidate()
                self._connection.close()
            self._connection = None
        self._held = False


_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


_ALIVE = text("SELECT 1")
