"""gateway/store/: raw intake with de-duplication, the Alembic schema, ticket numbers."""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, inspect, select, text

from gateway.store.batch import Batch, writing
from gateway.store.counters import next_ticket_number
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.models import Base, RawMessage
from gateway.store.raw_messages import IncomingRaw
from parsers import message_identity as identity
from parsers.message_identity import message_identity

MAIL = (
    b"Received: from mx1.fabrikam.example by mx.contoso.example; Tue, 3 Mar 2026 10:12:01 +0100\r\n"
    b"Return-Path: <anna@fabrikam.example>\r\n"
    b"From: Anna <anna@fabrikam.example>\r\n"
    b"To: support@contoso.example\r\n"
    b"Subject: Printer broken\r\n"
    b"Date: Tue, 03 Mar 2026 10:12:00 +0100\r\n"
    b"Message-ID: <anna-1@fabrikam.example>\r\n"
    b"\r\n"
    b"The printer on floor 2 is broken.\r\n"
)

# The same message as the IMAP mailbox holds it: other trace fields, header folded, LF endings.
SAME_FROM_MAILBOX = (
    b"Return-Path: <anna@fabrikam.example>\n"
    b"Delivered-To: support@contoso.example\n"
    b"Received: from mx.contoso.example by imap.contoso.example; Tue, 3 Mar 2026 10:12:05 +0100\n"
    b"Authentication-Results: mx.contoso.example; dkim=pass\n"
    b"From: Anna <anna@fabrikam.example>\n"
    b"To: support@contoso.example\n"
    b"Subject: Printer\n broken\n"
    b"Date: Tue, 03 Mar 2026 10:12:00 +0100\n"
    b"Message-ID: <anna-1@fabrikam.example>\n"
    b"\n"
    b"The printer on floor 2 is broken.\n"
)

# A different message that reuses the Message-ID (some mailers do).
SAME_ID_OTHER_TEXT = MAIL.replace(b"is broken.", b"works again.")

WITHOUT_MESSAGE_ID = MAIL.replace(b"Message-ID: <anna-1@fabrikam.example>\r\n", b"")


def smtp(data: bytes) -> IncomingRaw:
    return IncomingRaw(
        data=data,
        via="smtp",
        source="192.0.2.1",
        mail_from="anna@fabrikam.example",
        rcpt_to=("support@contoso.example",),
    )


def stored(store: Store) -> list[RawMessage]:
    with store.session() as session:
        return list(session.scalars(select(RawMessage).order_by(RawMessage.id)))


# --- message_identity ---


def test_message_identity_reads_the_message_id() -> None:
    message_id, content_hash = message_identity(MAIL)

    assert message_id == "<anna-1@fabrikam.example>"
    assert len(content_hash) == 64


def test_trace_fields_folding_and_line_endings_do_not_change_the_identity() -> None:
    assert message_identity(SAME_FROM_MAILBOX) == message_identity(MAIL)


def test_other_text_changes_the_content_hash() -> None:
    assert message_identity(SAME_ID_OTHER_TEXT)[0] == message_identity(MAIL)[0]
    assert message_identity(SAME_ID_OTHER_TEXT)[1] != message_identity(MAIL)[1]


def test_other_subject_changes_the_content_hash() -> None:
    other = MAIL.replace(b"Subject: Printer broken", b"Subject: Printer fixed")

    assert message_identity(other)[1] != message_identity(MAIL)[1]


def test_message_identity_without_message_id() -> None:
    message_id, content_hash = message_identity(WITHOUT_MESSAGE_ID)

    assert message_id is None
    assert content_hash != message_identity(MAIL)[1]


# Content hashes are stored in databases: these are the digests before the hash was streamed.
KNOWN_HASHES = {
    MAIL: "5223e6b7b62de54c9c985328bb27181314800fc38f64dabdd8504eae330f801d",
    b"Subject: odd\n\n \r\n\rfirst  \r\r\nsecond\t\n\x0b\n\n  third \x0c\r\n\r\n \n": (
        "f1b0a911721ce65493f2d1db41f2a86b498701f886ffee1eb1735e70597a87eb"
    ),
    b"Subject: no body": "778c401511751d04fbcc27ea8a410dcc7104a29d290d7a5c6368bdd5c18b7a56",
}


@pytest.mark.parametrize("data", list(KNOWN_HASHES))
def test_the_content_hash_never_changes(data: bytes) -> None:
    assert message_identity(data)[1] == KNOWN_HASHES[data]


def body_hash_by_the_definition(body: bytes) -> str:
    """What the body part of the content hash is defined as, splitting the body at once."""
    return hashlib.sha256(
        b"\n".join(line.rstrip() for line in body.splitlines()).rstrip()
    ).hexdigest()


BODIES = [
    b"",
    b"\r\n",
    b"a\r\nb",
    b"a\rb\nc\r\n\r\nd",
    b"\n\n  x \t\r\n\r\r\n\x0b\x0c\n y\n\n\n",
    b"line one  \r\n\r\n\r\nline four\r\n   \r\n",
    b"\r" * 7 + b"z" + b"\n" * 5,
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 20])
@pytest.mark.parametrize("body", BODIES)
def test_the_body_is_hashed_in_chunks_as_if_at_once(
    body: bytes, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity, "_BODY_CHUNK", chunk)
    digest = hashlib.sha256()
    identity._hash_body(digest, b"Subject: x\r\n\r\n" + body, 14)
    assert digest.hexdigest() == body_hash_by_the_definition(body)


def test_the_identity_of_a_large_message_takes_little_memory() -> None:
    body = (
        b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5" + b"\r\n"
    ) * 80_000
    data = MAIL + body  # about 5.6 MB; splitting it into lines took four times that
    tracemalloc.start()
    try:
        message_identity(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(data) / 2


# --- insert_raw ---


def test_insert_raw_stores_the_bytes_and_envelope(store: Store) -> None:
    [raw_id] = store.insert_raw([smtp(MAIL)])

    [row] = stored(store)
    assert row.id == raw_id
    assert (row.data, row.size, row.state, row.attempts) == (MAIL, len(MAIL), "new", 0)
    assert (row.via, row.source, row.mail_from) == ("smtp", "192.0.2.1", "anna@fabrikam.example")
    assert row.rcpt_to == ["support@contoso.example"]
    assert row.message_id == "<anna-1@fabrikam.example>"


def test_a_redelivery_is_stored_once(store: Store) -> None:
    [first] = store.insert_raw([smtp(MAIL)])
    [second] = store.insert_raw([smtp(MAIL)])

    assert first is not None
    assert second is None
    assert [row.id for row in stored(store)] == [first]


def test_a_redelivery_in_the_same_batch_is_stored_once(store: Store) -> None:
    first, second = store.insert_raw([smtp(MAIL), smtp(MAIL)])

    assert first is not None and second is None
    assert len(stored(store)) == 1


def test_in_a_batch_each_new_message_gets_its_own_id(store: Store) -> None:
    """The batch is one statement, whose returned rows leave out the redeliveries: the ids
    must still go to the right messages."""
    [first] = store.insert_raw([smtp(MAIL)])
    ids = store.insert_raw([smtp(SAME_ID_OTHER_TEXT), smtp(MAIL), smtp(WITHOUT_MESSAGE_ID)])

    assert ids[1] is None
    data = {row.id: row.data for row in stored(store)}
    assert [data[first], data[ids[0]], data[ids[2]]] == [
        MAIL,
        SAME_ID_OTHER_TEXT,
        WITHOUT_MESSAGE_ID,
    ]


def test_a_database_error_on_insert_is_a_temporary_fault(store: Store) -> None:
    """The insert runs on the driver's cursor, beside SQLAlchemy's error handling: an
    OperationalError must still make the senders retry (StorageUnavailable), not crash."""
    with store.session() as session:
        session.execute(text("ALTER TABLE raw_messages RENAME TO raw_messages_away"))

    with pytest.raises(StorageUnavailable, match="no such table"):
        store.insert_raw([smtp(MAIL)])


def test_the_same_message_by_smtp_and_from_the_mailbox_is_stored_once(store: Store) -> None:
    [first] = store.insert_raw([smtp(MAIL)])
    [second] = store.insert_raw(
        [IncomingRaw(data=SAME_FROM_MAILBOX, via="imap", source="shared-mailbox")]
    )

    assert first is not None and second is None
    assert [row.via for row in stored(store)] == ["smtp"]


def test_two_messages_sharing_a_message_id_are_both_kept(store: Store) -> None:
    ids = store.insert_raw([smtp(MAIL)]) + store.insert_raw([smtp(SAME_ID_OTHER_TEXT)])

    assert None not in ids and ids[0] != ids[1]
    assert [row.data for row in stored(store)] == [MAIL, SAME_ID_OTHER_TEXT]


def test_messages_without_message_id(store: Store) -> None:
    other = WITHOUT_MESSAGE_ID.replace(b"is broken.", b"works again.")

    first, again, different = store.insert_raw(
        [smtp(WITHOUT_MESSAGE_ID), smtp(WITHOUT_MESSAGE_ID), smtp(other)]
    )

    assert first is not None and different is not None and first != different
    assert again is None
    assert [(row.message_id, row.dedupe_key) for row in stored(store)] == [(None, ""), (None, "")]


# --- schema ---


def test_migrations_create_the_schema(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())

    assert {"raw_messages", "counters", "tickets", "ticket_messages", "events", "outbox"} <= tables
    assert "alembic_version" in tables


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_migrating_twice_changes_nothing(store: Store) -> None:
    store.migrate()

    assert inspect(store.engine).get_table_names().count("tickets") == 1


# --- ticket numbers ---


def test_ticket_numbers_count_up_from_one(store: Store) -> None:
    with store.session() as session:
        first, second = (
            next_ticket_number(Batch.immediate(session)),
            next_ticket_number(Batch.immediate(session)),
        )
    with store.session() as session:
        third = next_ticket_number(Batch.immediate(session))

    assert (first, second, third) == (1, 2, 3)


def test_a_rolled_back_transaction_does_not_use_up_a_number(store: Store) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), store.session() as session:
        next_ticket_number(Batch.immediate(session))
        raise Abort

    with store.session() as session:
        assert next_ticket_number(Batch.immediate(session)) == 1


def test_a_processing_batch_reads_the_counter_once_and_writes_it_with_its_rows(
    store: Store,
) -> None:
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with store.session() as session, writing(session) as batch:
        numbers = [next_ticket_number(batch) for _ in range(3)]
        counter_statements = [s for s in statements if "counters" in s]
    with store.session() as session:
        after = next_ticket_number(Batch.immediate(session))

    assert numbers == [1, 2, 3]
    assert len(counter_statements) == 1 and counter_statements[0].startswith("SELECT")
    assert after == 4  # the batch wrote its last number


def test_a_failed_message_of_a_batch_leaves_no_gap_in_the_numbers(store: Store) -> None:
    with store.session() as session, writing(session) as batch:
        first = next_ticket_number(batch)
        since = batch.mark()
        next_ticket_number(batch)  # the message that fails
        batch.take_back(since)
        again = next_ticket_number(batch)
        batch.flush()
        after_the_write = next_ticket_number(batch)

    assert (first, again, after_the_write) == (1, 2, 3)


def test_sqlite_runs_in_wal_mode_with_full_sync(store: Store) -> None:
    with store.reader() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_the_newest_revision_is_the_one_alembic_finds(store: Store) -> None:
    """The start reads the head from the file names instead of through Alembic."""
    from alembic.script import ScriptDirectory

    from gateway.store import migrations

    alembic_head = ScriptDirectory.from_config(migrations.alembic_config(store.engine))
    assert migrations.head() == alembic_head.get_current_head()
    assert migrations.is_current(store.engine)
