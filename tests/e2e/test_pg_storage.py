"""Storing raw messages on a real PostgreSQL, where a batch's small messages go to the server in
one round trip (psycopg's pipeline mode, beside SQLAlchemy) and large ones one by one: each id
goes to its own message, the store holds one copy of one large message at a time, the values are
stored as SQLAlchemy would store them, and a database that goes away is a temporary fault the
store recovers from."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from gateway.config import load_config
from gateway.runtime import worker as worker_module
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.models import utcnow
from gateway.store.raw_messages import PIPELINE_AT_MOST, STORAGE_COPIES, IncomingRaw
from tests.e2e import postgres
from tests.gateway.test_storage import (
    MAIL,
    SAME_FROM_MAILBOX,
    SAME_ID_OTHER_TEXT,
    WITHOUT_MESSAGE_ID,
    smtp,
    stored,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not postgres.available(), reason="installed by make test")


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    store = Store(database)
    store.migrate()
    yield store
    store.close()


def from_mailbox(data: bytes, uid: int) -> IncomingRaw:
    return IncomingRaw(
        data=data,
        via="imap",
        source="shared-mailbox",
        imap_mailbox="support",
        imap_uidvalidity=7,
        imap_uid=uid,
    )


def test_each_new_message_of_a_batch_gets_its_own_id(store: Store) -> None:
    [first] = store.insert_raw([smtp(MAIL)])
    ids = store.insert_raw(
        [
            smtp(SAME_ID_OTHER_TEXT),
            smtp(MAIL),  # stored before
            smtp(WITHOUT_MESSAGE_ID),
            smtp(WITHOUT_MESSAGE_ID),  # twice in one batch
            from_mailbox(SAME_FROM_MAILBOX, uid=1),  # the first mail, read from the mailbox
        ]
    )

    assert ids[1] is None and ids[3] is None and ids[4] is None
    rows = {row.id: row for row in stored(store)}
    assert sorted(rows) == sorted([first, ids[0], ids[2]])
    assert [rows[first].data, rows[ids[0]].data, rows[ids[2]].data] == [  # type: ignore[index]
        MAIL,
        SAME_ID_OTHER_TEXT,
        WITHOUT_MESSAGE_ID,
    ]


def large(n: int, size: int = 2 * PIPELINE_AT_MOST) -> bytes:
    return MAIL.replace(b"broken.", b"broken (%d)." % n) + bytes(range(256)) * (size // 256)


def test_large_messages_between_small_ones_get_their_own_ids(store: Store) -> None:
    """Above PIPELINE_AT_MOST a message is sent on its own, between the pipelined runs of
    small ones: the ids must still go to the right messages, in their order."""
    batch = [MAIL, large(1), SAME_ID_OTHER_TEXT, large(1), large(2), WITHOUT_MESSAGE_ID]
    ids = store.insert_raw([smtp(data) for data in batch])

    assert ids[3] is None and None not in ids[:3] + ids[4:]
    data = {row.id: row.data for row in stored(store)}
    assert [data[i] for i in ids if i is not None] == [batch[n] for n in (0, 1, 2, 4, 5)]


_PEAK_OF_A_BATCH = """
import resource, sys
from gateway.store.engine import Store
from gateway.store.raw_messages import IncomingRaw
store = Store(sys.argv[1])
store.migrate()
store.insert_raw([IncomingRaw(data=b"Subject: warm-up\\r\\n\\r\\nhi\\r\\n", via="pipe")])
block = bytes(range(256)) * (20 << 12)  # 20 MiB
batch = [IncomingRaw(data=b"Subject: %d\\r\\n\\r\\n" % n + block, via="pipe") for n in range(5)]
for item in batch:
    item.identity
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
store.insert_raw(batch)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, len(batch[0].data))
"""


# Copies of the message being written that each driver holds: SQLite's bound parameter
# (SQLITE_TRANSIENT) and the row's record; psycopg's output buffer.
COPIES = {"sqlite": 2, "postgresql": 1}


@pytest.mark.parametrize("dialect", sorted(COPIES))
def test_the_store_copies_one_large_message_at_a_time(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Intake's memory budget keeps room for STORAGE_COPIES of one message while the store
    writes a batch (gateway/intake/smtp_session.py): a batch of five large messages may not
    take more. Pipelined, psycopg's output buffer held 2.5 of the five at once. The copies
    are the drivers', outside Python's allocator, so the peak is the process's."""
    url = (
        request.getfixturevalue("database")  # a PostgreSQL cluster only where it is measured
        if dialect == "postgresql"
        else f"sqlite:///{tmp_path / 'peak.db'}"
    )
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_A_BATCH, url],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    grown, size = map(int, result.stdout.split())
    assert COPIES[dialect] <= STORAGE_COPIES
    assert grown < (COPIES[dialect] + 0.5) * size, f"{grown} bytes for five of {size}"


def test_values_are_stored_as_sqlalchemy_stores_them(store: Store) -> None:
    # A session time zone far from UTC: a time sent with its offset, not as UTC by the
    # column's own processor, would be stored five hours off.
    with_session_setting(store, "SET TIME ZONE 'America/New_York'")
    [raw_id] = store.insert_raw([smtp(MAIL)])

    [row] = stored(store)
    assert row.id == raw_id
    assert row.rcpt_to == ["support@contoso.example"]  # JSON, not its text
    assert abs(row.received_at - utcnow()) < timedelta(minutes=1)
    assert (row.via, row.mail_from, row.size) == ("smtp", "anna@fabrikam.example", len(MAIL))


def test_an_empty_batch_stores_nothing(store: Store) -> None:
    assert store.insert_raw([]) == []


def test_the_same_uid_is_taken_once(store: Store) -> None:
    first, again = store.insert_raw([from_mailbox(MAIL, uid=5), from_mailbox(MAIL, uid=5)])
    [later] = store.insert_raw([from_mailbox(SAME_ID_OTHER_TEXT, uid=5)])

    assert first is not None and again is None and later is None


def test_a_database_gone_is_unavailable_and_the_store_recovers(
    store: Store, pg_cluster: postgres.Postgres
) -> None:
    [before] = store.insert_raw([smtp(MAIL)])
    pg_cluster.stop("immediate")
    with pytest.raises(StorageUnavailable):
        store.insert_raw([smtp(SAME_ID_OTHER_TEXT)])
    pg_cluster.start()

    [after] = store.insert_raw([smtp(SAME_ID_OTHER_TEXT)])

    assert before is not None and after is not None and after != before


def test_a_batch_the_server_refuses_midway_is_unavailable(store: Store, database: str) -> None:
    """The batch's own statements fail (not the connection check before them): a table locked
    for longer than the store's lock_timeout."""
    with_session_setting(store, "SET lock_timeout = '200ms'")
    other = Store(database)
    try:
        with other.engine.connect() as connection:
            connection.execute(text("LOCK TABLE raw_messages IN ACCESS EXCLUSIVE MODE"))
            with pytest.raises(StorageUnavailable, match="lock timeout"):
                store.insert_raw([smtp(MAIL)])
            connection.rollback()
    finally:
        other.close()

    [raw_id] = store.insert_raw([smtp(MAIL)])

    assert raw_id is not None


def with_session_setting(store: Store, statement: str) -> None:
    """Every connection of the store from now on runs `statement` first."""

    def on_connect(connection: Any, record: Any) -> None:
        connection.execute(statement)
        connection.commit()

    event.listen(store.engine, "connect", on_connect)
    store.engine.dispose()


def test_nul_bytes_in_the_envelope_and_message_id_are_stored(store: Store) -> None:
    """PostgreSQL's text columns refuse NUL, and one such message would fail its whole batch
    (451 to every sender in it) each time it came back."""
    data = MAIL.replace(b"<anna-1@fabrikam.example>", b"<anna\x00-1@fabrikam.example>")
    item = IncomingRaw(
        data=data, via="smtp", source="192.0.2.1", mail_from="an\x00na@fabrikam.example",
        rcpt_to=("support\x00@contoso.example",),
    )  # fmt: skip

    first, other = store.insert_raw([item, smtp(SAME_ID_OTHER_TEXT)])
    [again] = store.insert_raw([item])

    assert first is not None and other is not None and again is None
    row = {row.id: row for row in stored(store)}[first]
    assert (row.data, row.message_id) == (data, "<anna-1@fabrikam.example>")
    assert (row.mail_from, row.rcpt_to) == ("anna@fabrikam.example", ["support@contoso.example"])


def test_a_connection_killed_after_its_check_is_unavailable(store: Store, database: str) -> None:
    """The server ends the session between the pool's check and the batch (a restart, an
    admin's pg_terminate_backend): the senders retry, and the next batch gets a new connection."""
    other = Store(database)
    killed: list[int] = []

    def kill_once(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if not killed:
            killed.append(dbapi_connection.info.backend_pid)
            with other.engine.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed[0]})

    event.listen(store.engine, "checkout", kill_once)
    try:
        with pytest.raises(StorageUnavailable):
            store.insert_raw([smtp(MAIL)])
        [raw_id] = store.insert_raw([smtp(MAIL)])
    finally:
        other.close()

    assert killed and raw_id is not None


def test_the_worker_starts_no_parser_stage_on_postgresql(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """There, the stages of several daemons read each other's batches (worker.py says why)."""
    text = (REPO / "config.toml").read_text()
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        text.replace('secret_file = "var/gateway.secret"', 'secret = "pg-test-secret-0123456789"')
    )
    monkeypatch.setattr(worker_module, "PROCESS_BATCH", 2)
    worker = worker_module.Worker(load_config(config_file), store)
    store.insert_raw([smtp(MAIL), smtp(SAME_ID_OTHER_TEXT), smtp(WITHOUT_MESSAGE_ID)])

    assert worker._process() == 2  # a full batch
    assert not worker.parse_ahead.running()
    assert worker._process() == 1
