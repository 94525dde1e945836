"""gateway/store/backup.py: a copy of the SQLite file made while another connection writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.store.backup import BackupError, backup_database
from gateway.store.engine import Store
from gateway.store.raw_messages import IncomingRaw, insert_raw_rows


def mail(n: int) -> bytes:
    return f"From: a{n}@fabrikam.example\r\nSubject: {n}\r\n\r\nbody {n}\r\n".encode()


def raw_count(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("SELECT count(*) FROM raw_messages").fetchone()[0])
    finally:
        connection.close()


def test_the_copy_holds_what_was_committed_and_not_what_was_still_being_written(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    store = Store(url)
    store.migrate()
    store.insert_raw([IncomingRaw(mail(n), via="pipe") for n in range(20)])
    target = tmp_path / "backups" / "gateway-copy.db"
    target.parent.mkdir()
    with store.session() as session:  # a writer in the middle of its transaction
        insert_raw_rows(session, [IncomingRaw(mail(n), via="pipe") for n in range(20, 30)])
        result = backup_database(url, target)
    store.close()
    assert result.size == target.stat().st_size > 0
    assert raw_count(target) == 20
    assert raw_count(tmp_path / "gateway.db") == 30
    assert not list(target.parent.glob(".*partial"))
    backup_database(url, target)  # again, onto the old copy
    assert raw_count(target) == 30


def test_postgresql_and_missing_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="pg_dump"):
        backup_database("postgresql+psycopg://gw@db/gateway", tmp_path / "copy.db")
    with pytest.raises(BackupError, match="does not exist"):
        backup_database(f"sqlite:///{tmp_path / 'none.db'}", tmp_path / "copy.db")
    (tmp_path / "gateway.db").touch()
    with pytest.raises(BackupError, match="the database itself"):
        backup_database(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path / "gateway.db")
