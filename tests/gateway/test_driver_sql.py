"""gateway/store/driver_sql.py: statements run with the driver's parameters write what SQLAlchemy
would have written, and those whose values SQLAlchemy computes are left to it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, insert, select, text, update

from gateway.store import driver_sql
from gateway.store.engine import Store
from gateway.store.models import Event, RawMessage, Ticket, utcnow
from gateway.store.raw_messages import IncomingRaw
from tests.gateway.test_batch import a_ticket

EVENTS = Event.__table__
RAW = RawMessage.__table__
AT = datetime(2026, 3, 3, 10, 12, 0, 123456, tzinfo=UTC)


def stored_text(store: Store, table: str) -> list[tuple[object, ...]]:
    """The rows as the database holds them: type and value of each column, without the id."""
    with store.reader() as session:
        columns = [row[1] for row in session.execute(text(f"PRAGMA table_info({table})"))]
        shown = ", ".join(f"typeof({c}), {c}" for c in columns if c != "id")
        return [tuple(row) for row in session.execute(text(f"SELECT {shown} FROM {table}"))]


def test_rows_are_stored_exactly_as_sqlalchemy_stores_them(store: Store) -> None:
    rows = [
        {"at": AT, "what": "created", "detail": {"rule": None, "agents": ["jan@contoso.example"]}},
        {"at": AT.astimezone(), "what": "notified", "detail": {"é": "ü"}},
    ]
    with store.session() as session:
        ticket_id = a_ticket(session)
        keyed = [{**row, "ticket_id": ticket_id} for row in rows]
        session.connection().execute(insert(EVENTS), keyed)
    by_sqlalchemy = stored_text(store, "events")
    with store.session() as session:
        session.execute(EVENTS.delete())
        connection = session.connection()
        statement = driver_sql.compile(insert(EVENTS), connection.dialect, frozenset(keyed[0]))
        assert statement is not None
        statement.executemany(connection, keyed)

    assert stored_text(store, "events") == by_sqlalchemy
    with store.reader() as session:  # and read back through the ORM as they were given
        events = session.scalars(select(Event).order_by(Event.id)).all()
        assert [(e.at, e.what, e.detail) for e in events] == [
            (row["at"], row["what"], row["detail"]) for row in rows
        ]


def test_the_statement_s_own_values_are_sent_with_each_row(store: Store) -> None:
    ids = store.insert_raw([IncomingRaw(data=b"Subject: a\r\n\r\nx\r\n", via="smtp")])
    mark_done = (
        update(RAW)
        .where(RAW.c.id == bindparam("raw_id"))
        .values(state="done", processed_at=bindparam("now"), attempts=RAW.c.attempts + 1)
    )
    with store.session() as session:
        connection = session.connection()
        statement = driver_sql.compile(mark_done, connection.dialect, frozenset({"raw_id", "now"}))
        assert statement is not None
        statement.executemany(connection, [{"raw_id": ids[0], "now": AT}])

    with store.reader() as session:
        raw = session.get_one(RawMessage, ids[0])
        assert (raw.state, raw.processed_at, raw.attempts) == ("done", AT, 1)


def test_statements_whose_values_sqlalchemy_computes_are_left_to_it(store: Store) -> None:
    with store.session() as session:
        dialect = session.connection().dialect
    now = utcnow()
    without_detail = frozenset({"ticket_id", "at", "what"})  # detail has a Python default
    full = frozenset({"ticket_id", "at", "what", "detail"})
    returning = insert(Ticket.__table__).returning(Ticket.__table__.c.id)
    missing_key = update(RAW).where(RAW.c.id == bindparam("raw_id")).values(processed_at=now)

    assert driver_sql.compile(insert(EVENTS), dialect, without_detail) is None
    assert driver_sql.compile(returning, dialect, frozenset({"number"})) is None
    assert driver_sql.compile(missing_key, dialect, frozenset({"other"})) is None
    assert driver_sql.compile(insert(EVENTS), dialect, full) is not None
