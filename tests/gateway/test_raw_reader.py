"""gateway/store/raw_reader.py names raw_messages' columns itself: they must be the model's."""

from __future__ import annotations

from gateway.store import raw_reader
from gateway.store.engine import Store
from gateway.store.models import RawMessage, RawState
from gateway.store.raw_messages import IncomingRaw


def test_its_columns_and_state_are_the_models() -> None:
    columns = set(RawMessage.__table__.c.keys())
    assert set(raw_reader.COLUMNS) <= columns, set(raw_reader.COLUMNS) - columns
    assert raw_reader.NEW == RawState.NEW
    for statement in (raw_reader._NEXT, raw_reader._DATA):
        named = {c for c in columns if f" {c}" in statement or f"{c}," in statement}
        assert named <= set(raw_reader.COLUMNS), named - set(raw_reader.COLUMNS)


def test_it_reads_what_intake_stored(store: Store) -> None:
    mail = b"Message-ID: <a@b>\r\nSubject: x\r\n\r\nhello\r\n"
    (raw_id,) = store.insert_raw([IncomingRaw(data=mail, via="smtp", mail_from="a@b.example")])
    database = raw_reader.open_database(store.url)
    try:
        assert raw_reader.next_new(database, 10, []) == [(raw_id, len(mail))]
        assert raw_reader.next_new(database, 10, [raw_id]) == []
        assert list(raw_reader.contents(database, [raw_id])) == [(raw_id, "a@b.example", mail)]
    finally:
        database.close()
