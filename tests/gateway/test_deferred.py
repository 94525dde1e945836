"""gateway/store/batch.py: rows deferred to the end of a batch are never missed by a read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from gateway.delivery import outbox
from gateway.store import batch as deferred
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
    """The events in the table, read past the ORM (which would write deferred rows first)."""
    rows = session.connection().execute(select(Event.what).order_by(Event.id))
    return [what for (what,) in rows]


def test_outside_a_batch_a_write_runs_at_once(store: Store) -> None:
    with store.session() as session:
        ticket_id = a_ticket(session)
        deferred.write(session, INSERT_EVENT, event(ticket_id, "routed"))
        assert written(session) == ["routed"]


def test_deferred_rows_are_written_before_any_orm_read_and_at_the_end(store: Store) -> None:
    with store.session() as session:
        ticket_id = a_ticket(session)
        with deferred.deferring(session):
            deferred.write(session, INSERT_EVENT, event(ticket_id, "routed"))
            deferred.write(session, INSERT_EVENT, event(ticket_id, "notified"))
            assert written(session) == []
            assert session.scalar(select(func.count(Event.id))) == 2  # the ORM read wrote them
            assert written(session) == ["routed", "notified"]
            deferred.write(session, INSERT_EVENT, event(ticket_id, "status"))
            assert written(session) == ["routed", "notified"]
        assert written(session) == ["routed", "notified", "status"]
    with store.reader() as session:
        assert written(session) == ["routed", "notified", "status"]


def test_take_back_forgets_only_the_rows_after_the_mark(store: Store) -> None:
    with store.session() as session:
        ticket_id = a_ticket(session)
        with deferred.deferring(session):
            deferred.write(session, INSERT_EVENT, event(ticket_id, "first message"))
            since = deferred.mark(session)
            deferred.write(session, INSERT_EVENT, event(ticket_id, "second message"))
            outbox.enqueue(session, MAIL, ticket_id)
            deferred.take_back(session, since)
        assert written(session) == ["first message"]
        assert outbox.sent_recently(session, MAIL.rate_key or "", timedelta(hours=1)) == 0


def test_a_batch_that_fails_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        ticket_id = a_ticket(session)
        with deferred.deferring(session):
            deferred.write(session, INSERT_EVENT, event(ticket_id, "routed"))
            raise RuntimeError("a bug")
    assert "gateway.deferred" not in session.info
    with store.reader() as session:
        assert written(session) == []


def test_the_rate_count_includes_mail_not_yet_written(store: Store) -> None:
    """Six mails of one auto-responder in one batch: the acknowledgement cap must see them."""
    with store.session() as session:
        outbox.enqueue(session, MAIL, None)
    with store.session() as session, deferred.deferring(session):
        outbox.enqueue(session, MAIL, None)
        outbox.enqueue(session, MAIL, None)
        outbox.enqueue(session, replace(MAIL, rate_key="reply:bob"), None)
        assert outbox.sent_recently(session, MAIL.rate_key or "", timedelta(hours=1)) == 3
        assert outbox.sent_recently(session, "reply:bob", timedelta(hours=1)) == 1


def test_counted_ahead_the_rate_count_needs_no_statement_until_rows_are_written(
    store: Store,
) -> None:
    hour, bob = timedelta(hours=1), "reply:bob"
    with store.session() as session:
        ticket_id = a_ticket(session)
        outbox.enqueue(session, MAIL, None)
    counts: list[str] = []
    sqlalchemy_event.listen(
        store.engine,
        "before_cursor_execute",
        lambda *args: counts.append(args[2]) if "count(" in args[2] else None,
    )
    with store.session() as session, deferred.deferring(session):
        outbox.count_ahead(session, [MAIL.rate_key or "", bob], hour)
        outbox.enqueue(session, MAIL, ticket_id)
        outbox.enqueue(session, replace(MAIL, rate_key=bob), ticket_id)
        ahead = [outbox.sent_recently(session, key, hour) for key in (MAIL.rate_key or "", bob)]
        assert len(counts) == 1  # the one statement of count_ahead
        session.scalars(select(Ticket.id)).all()  # an ORM read writes the deferred rows
        outbox.enqueue(session, MAIL, ticket_id)
        after_the_write = outbox.sent_recently(session, MAIL.rate_key or "", hour)

    assert ahead == [2, 1]
    assert after_the_write == 3 and len(counts) == 2  # counted again from the database


def test_rows_holding_much_are_written_early(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of hand-overs, each with the customer's files, is not held until its end."""
    monkeypatch.setattr(deferred, "WRITE_AT_BYTES", 2_000)
    with store.session() as session:
        ticket_id = a_ticket(session)
        with deferred.deferring(session):
            outbox.enqueue(session, replace(MAIL, data=b"x" * 1_500), ticket_id)
            assert outbox.sent_recently(session, MAIL.rate_key or "", timedelta(hours=1)) == 1
            assert written_outbox(session) == 0
            outbox.enqueue(session, replace(MAIL, data=b"y" * 1_500), ticket_id)
            assert written_outbox(session) == 2
            assert outbox.sent_recently(session, MAIL.rate_key or "", timedelta(hours=1)) == 2


def written_outbox(session: Session) -> int:
    count = session.connection().execute(select(func.count(OutboxMessage.id))).scalar_one()
    return int(count)
