"""`gatewayd backup PATH`: a consistent copy of the SQLite database while the daemon runs.

SQLite's online backup API (sqlite3_backup_init/step, in Python `Connection.backup`) copies the
pages of the database as one snapshot: in one step it holds a read transaction, which in WAL
mode never waits for the daemon's writers nor holds them up; what they commit after the step
began is not in the copy. The copy is written beside PATH and renamed onto it once complete
and synced, so PATH is always either the old backup or the whole new one. PostgreSQL has its
own tool for this (pg_dump, docs/OPERATIONS.md).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """The backup cannot be made; the text says why."""


@dataclass(frozen=True)
class Backup:
    source: Path
    target: Path
    size: int  # bytes of the copy
    tickets: int  # in the copy, for the admin's eye


def backup_database(storage_url: str, target: Path) -> Backup:
    url = make_url(storage_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"storage.url is {url.get_backend_name()}: back it up with pg_dump "
            "(docs/OPERATIONS.md, 'Backups')"
        )
    if not url.database:
        raise BackupError("storage.url names no SQLite file")
    source = Path(url.database)
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    if target.resolve() == source.resolve():
        raise BackupError(f"{target} is the database itself")
    partial = target.with_name(f".{target.name}.partial")
    try:
        _copy(source, partial)
        os.replace(partial, target)
        _sync_folder(target.parent)
    except (OSError, sqlite3.Error) as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise BackupError(f"cannot write {target}: {exc}") from None
    return Backup(source, target, target.stat().st_size, _tickets(target))


def _copy(source: Path, partial: Path) -> None:
    partial.unlink(missing_ok=True)
    # Read-only: a backup never writes the daemon's file (nor creates it when it is missing).
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst, pages=-1)  # one step: one snapshot
        # The copy is one self-contained file, with no -wal beside it to lose on the way.
        dst.execute("PRAGMA journal_mode=DELETE")
        check = dst.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"the copy fails its check: {check}")
    finally:
        dst.close()
        src.close()
    with partial.open("rb") as copy:
        os.fsync(copy.fileno())


def _sync_folder(folder: Path) -> None:
    """The rename itself survives a power loss only once the folder is synced."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tickets(copy: Path) -> int:
    connection = sqlite3.connect(f"{copy.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM tickets").fetchone()[0])
    except sqlite3.OperationalError:  # a database never migrated has no tickets table
        return 0
    finally:
        connection.close()
