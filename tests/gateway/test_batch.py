"""gateway/store/batch.py: rows kept for the end of a batch are written before every read that
goes through the batch, and never twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from gateway.delivery import outbox
from gateway.store import batch as batch_module
from gateway.store import outbox as outbox_rows
from gateway.store.batch import Batch, writing
from gateway.store.engine import Store
from gateway.store.models import Event, OutboxMessage, Ticket, utcnow
from tests.gateway.test_outbox import MAIL

INSERT_EVENT = insert(Event.__table__)


def a_ticket(session: Session) -> int:
    now = utcnow()
    ticket = Ticket(
        number=1,
        subject="Printer",
        status="new",
        requester="anna@fabrikam.example",
        queue="helpdesk",
        priority="normal",
        route_action="handle",
        route_target="helpdesk",
        route_rule="default",
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    return ticket.id


def event(ticket_id: int, what: str) -> dict[str, object]:
    return {"ticket_id": ticket_id, "at": utcnow(), "what": what, "detail": {}}


def written(session: Session) -> list[str]:
    """The events in the table, read on the plain session: only what is written."""
    rows = session.connection().execute(select(Event.what).order_by(Event.id))
    return [what for (what,) in rows]


def test_an_immediate_batch_writes_at_once(store: Store) -> None:
    with store.session() as session:
        ticket_id = a_ticket(session)
        Batch.immediate(session).add(INSERT_EVENT, event(ticket_id, "routed"))
        assert written(session) == ["routed"]


def test_kept_rows_are_written_before_a_read_through_the_batch_and_at_the_end(
    store: Store,
) -> None:
    with store.session() as session:
        ticket_id = a_ticket(session)
        with writing(session) as batch:
            batch.add(INSERT_EVENT, event(ticket_id, "routed"))
            batch.add(INSERT_EVENT, event(ticket_id, "notified"))
            assert written(session) == []  # a read on the plain session sees only what is written
            assert batch.scalar(select(func.count(Event.id))) == 2  # the batch's read wrote them
            assert written(session) == ["routed", "notified"]
            batch.add(INSERT_EVENT, event(ticket_id, "status"))
            assert written(session) == ["routed", "notified"]
        assert written(session) == ["routed", "notified", "status"]
    with store.reader() as session:
        assert written(session) == ["routed", "notified", "status"]


def test_get_writes_first_only_when_it_must_read(store: Store) -> None:
    with store.session() as session:
        ticket_id = a_ticket(session)
        ticket = session.get_one(Ticket, ticket_id)
        with writing(session) as batch:
            batch.add(INSERT_EVENT, event(ticket_id, "routed"))
            assert batch.get(Ticket, ticket_id) is ticket  # loaded: nothing to read
            assert written(session) == []
            session.expunge(ticket)
            assert batch.get(Ticket, ticket_id) is not None  # read from the table: rows first
            assert written(session) == ["routed"]


def test_a_message_that_fails_takes_back_only_its_own_rows(store: Store) -> None:
    with store.session() as session:
        ticket_id = a_ticket(session)
        with writing(session) as batch:
            batch.add(INSERT_EVENT, event(ticket_id, "first message"))
            since = batch.mark()
            batch.add(INSERT_EVENT, event(ticket_id, "second message"))
            outbox.enqueue(batch, MAIL, ticket_id)
            batch.take_back(since)
        assert written(session) == ["first message"]
        rate_key = MAIL.rate_key or ""
        assert (
            outbox_rows.sent_recently(Batch.immediate(session), rate_key, timedelta(hours=1)) == 0
        )


def test_a_batch_that_fails_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        ticket_id = a_ticket(session)
        with writing(session) as batch:
            batch.add(INSERT_EVENT, event(ticket_id, "routed"))
            raise RuntimeError("a bug")
    with store.reader() as session:
        assert written(session) == []


def test_the_rate_count_includes_mail_not_yet_written(store: Store) -> None:
    """Six mails of one auto-responder in one batch: the acknowledgement cap must see them."""
    with store.session() as session:
        outbox.enqueue(Batch.immediate(session), MAIL, None)
    with store.session() as session, writing(session) as batch:
        outbox.enqueue(batch, MAIL, None)
        outbox.enqueue(batch, MAIL, None)
        outbox.enqueue(batch, replace(MAIL, rate_key="reply:bob"), None)
        assert outbox_rows.sent_recently(batch, MAIL.rate_key or "", timedelta(hours=1)) == 3
        assert outbox_rows.sent_recently(batch, "reply:bob", timedelta(hours=1)) == 1


def test_counted_ahead_the_rate_count_needs_no_statement_until_rows_are_written(
    store: Store,
) -> None:
    hour, bob = timedelta(hours=1), "reply:bob"
    with store.session() as session:
        ticket_id = a_ticket(session)
        outbox.enqueue(Batch.immediate(session), MAIL, None)
    counts: list[str] = []
    sqlalchemy_event.listen(
        store.engine,
        "before_cursor_execute",
        lambda *args: counts.append(args[2]) if "count(" in args[2] else None,
    )
    with store.session() as session, writing(session) as batch:
        outbox_rows.count_ahead(batch, [MAIL.rate_key or "", bob], hour)
        outbox.enqueue(batch, MAIL, ticket_id)
        outbox.enqueue(batch, replace(MAIL, rate_key=bob), ticket_id)
        ahead = [outbox_rows.sent_recently(batch, key, hour) for key in (MAIL.rate_key or "", bob)]
        assert len(counts) == 1  # the one statement of count_ahead
        batch.scalars(select(Ticket.id)).all()  # a read through the batch writes its rows
        outbox.enqueue(batch, MAIL, ticket_id)
        after_the_write = outbox_rows.sent_recently(batch, MAIL.rate_key or "", hour)

    assert ahead == [2, 1]
    assert after_the_write == 3 and len(counts) == 2  # counted again from the database


def test_rows_holding_much_are_written_early(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of hand-overs, each with the customer's files, is not held until its end."""
    monkeypatch.setattr(batch_module, "WRITE_AT_BYTES", 2_000)
    with store.session() as session:
        ticket_id = a_ticket(session)
        with writing(session) as batch:
            outbox.enqueue(batch, replace(MAIL, data=b"x" * 1_500), ticket_id)
            assert outbox_rows.sent_recently(batch, MAIL.rate_key or "", timedelta(hours=1)) == 1
            assert written_outbox(session) == 0
            outbox.enqueue(batch, replace(MAIL, data=b"y" * 1_500), ticket_id)
            assert written_outbox(session) == 2
            assert outbox_rows.sent_recently(batch, MAIL.rate_key or "", timedelta(hours=1)) == 2


def written_outbox(session: Session) -> int:
    count = session.connection().execute(select(func.count(OutboxMessage.id))).scalar_one()
    return int(count)
