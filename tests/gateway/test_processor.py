"""The processor's outcomes: quarantine keeps a failing message with its traceback, and replay
processes it once the fault is fixed."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from gateway.config import Config, load_config
from gateway.delivery.templates import Templates
from gateway.processing import processor, stages
from gateway.processing.context import Context
from gateway.processing.decision import request_text
from gateway.processing.plan import Plan
from gateway.runtime.parse_ahead import MAX_BYTES, parse_next
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import Event, OutboxMessage, RawMessage, Ticket, TicketMessage, utcnow
from gateway.store.raw_messages import IncomingRaw
from gateway.store.raw_reader import open_database
from parsers.message import parse_message

REPO = Path(__file__).resolve().parents[2]
REQUEST = (
    b"From: Anna <anna@fabrikam.example>\r\nTo: support@contoso.example\r\n"
    b"Subject: Help\r\nMessage-ID: <q1@fabrikam.example>\r\n\r\nPlease help.\r\n"
)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    text = (REPO / "config.toml").read_text()
    text = text.replace(
        'secret_file = "var/gateway.secret"', 'secret = "unit-test-secret-0123456789"'
    )
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path)


@pytest.fixture
def store(config: Config) -> Store:
    store = Store(config.storage.url)
    store.migrate()
    return store


def raw_state(store: Store) -> tuple[str, str | None]:
    with store.session() as session:
        raw = session.scalars(select(RawMessage)).one()
        return raw.state, raw.error


def ticket_count(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count(Ticket.id))) or 0)


def test_a_failing_stage_quarantines_and_replay_after_the_fix_processes(
    config: Config, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = Context(config, Templates())
    store.insert_raw([IncomingRaw(data=REQUEST, via="smtp")])

    def broken_parser(data: bytes, envelope_sender: str | None = None) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(stages, "parse_message", broken_parser)
    assert processor.process_pending(store, context) == 1
    state, error = raw_state(store)
    assert state == "quarantined"
    assert error is not None and error.startswith("RuntimeError: parser bug")
    assert "Traceback" in error
    assert ticket_count(store) == 0
    assert processor.process_pending(store, context) == 0  # quarantined mail is not retried

    monkeypatch.undo()  # the fix
    assert processor.process_again(store, context, [1], ("quarantined",)) == 1
    assert raw_state(store) == ("done", None)
    assert ticket_count(store) == 1


def test_a_failure_rolls_back_only_its_own_message(
    config: Config, store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The batch runs without savepoints first; message 1 fails after its ticket row was
    written, so the batch is rolled back and run again with a savepoint per message."""
    context = Context(config, Templates())
    second = REQUEST.replace(b"q1@", b"q2@").replace(b"Help", b"Help again")
    third = REQUEST.replace(b"q1@", b"q3@").replace(b"Help", b"Help once more")
    store.insert_raw([IncomingRaw(data=m, via="smtp") for m in (second, REQUEST, third)])
    real_acknowledge = stages._acknowledge

    def acknowledge_fails_for_help(batch: Batch, plan: Plan, *args: Any) -> None:
        if plan.ticket.subject == "Help":
            raise RuntimeError("template bug")  # after the ticket row was written
        real_acknowledge(batch, plan, *args)

    monkeypatch.setattr(stages, "_acknowledge", acknowledge_fails_for_help)
    caplog.set_level(logging.INFO, logger="gateway.processor")
    assert processor.process_pending(store, context) == 3
    with store.session() as session:
        states = dict(session.execute(select(RawMessage.id, RawMessage.state)).all())
        numbers = dict(session.execute(select(Ticket.subject, Ticket.number)).all())
        incoming = session.execute(
            select(TicketMessage.ticket_id, TicketMessage.subject)
            .where(TicketMessage.direction == "in")
            .order_by(TicketMessage.id)
        ).all()
        outbox = session.scalars(select(OutboxMessage.ticket_id).order_by(OutboxMessage.id)).all()
    assert states == {1: "done", 2: "quarantined", 3: "done"}
    assert numbers == {"Help again": 1, "Help once more": 2}  # message 2's number is reused
    assert incoming == [(1, "Help again"), (2, "Help once more")]  # none of message 2's rows
    # An acknowledgement and two agent notifications for each of 1 and 3, nothing for 2.
    assert outbox == [1, 1, 1, 2, 2, 2]
    # Logged once each, after the commit: nothing of the run that was rolled back.
    events = [(r.getMessage().split()[0], r.getMessage().split()[1]) for r in caplog.records]
    assert events == [
        ("message.processed", "raw=1"),
        ("message.quarantined", "raw=2"),
        ("message.processed", "raw=3"),
    ]


def test_a_reply_in_the_same_batch_as_its_ticket_is_a_follow_up(
    config: Config, store: Store
) -> None:
    """The threader reads the ticket's messages, which the batch has not written yet."""
    reply = (
        b"From: Anna <anna@fabrikam.example>\r\nTo: support@contoso.example\r\n"
        b"Subject: Re: Help\r\nMessage-ID: <q2@fabrikam.example>\r\n"
        b"In-Reply-To: <q1@fabrikam.example>\r\n\r\nIt is urgent.\r\n"
    )
    store.insert_raw([IncomingRaw(data=REQUEST, via="smtp"), IncomingRaw(data=reply, via="smtp")])

    assert processor.process_pending(store, Context(config, Templates())) == 2

    with store.session() as session:
        incoming = session.execute(
            select(TicketMessage.ticket_id, TicketMessage.message_id)
            .where(TicketMessage.direction == "in")
            .order_by(TicketMessage.id)
        ).all()
    assert incoming == [(1, "<q1@fabrikam.example>"), (1, "<q2@fabrikam.example>")]


def test_a_ticket_s_last_activity_is_saved_to_the_second(config: Config, store: Store) -> None:
    """A new ticket's own messages do not update it again; a follow-up later does."""
    reply = (
        b"From: Anna <anna@fabrikam.example>\r\nTo: support@contoso.example\r\n"
        b"Subject: Re: Help\r\nMessage-ID: <q2@fabrikam.example>\r\n"
        b"In-Reply-To: <q1@fabrikam.example>\r\n\r\nStill broken.\r\n"
    )
    updates: list[str] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda *args: updates.append(args[2]) if args[2].startswith("UPDATE tickets") else None,
    )
    context = Context(config, Templates())
    store.insert_raw([IncomingRaw(data=REQUEST, via="smtp")])
    assert processor.process_pending(store, context) == 1
    assert updates == []

    an_hour_ago = utcnow() - timedelta(hours=1)
    with store.session() as session:
        session.execute(update(Ticket).values(updated_at=an_hour_ago))
    store.insert_raw([IncomingRaw(data=reply, via="smtp")])
    assert processor.process_pending(store, context) == 1
    with store.reader() as session:
        assert session.scalars(select(Ticket.updated_at)).one() > utcnow() - timedelta(minutes=1)


@pytest.mark.parametrize("parsed_ahead", [False, True])
def test_the_acknowledgement_cap_counts_the_batch_itself(
    config: Config, store: Store, parsed_ahead: bool
) -> None:
    """An auto-responder's six mails in one batch get acks_per_hour acknowledgements, also when
    the batch was parsed ahead (and the acknowledgements counted ahead)."""
    mails = [
        REQUEST.replace(b"q1@", f"r{i}@".encode()).replace(b"Help", f"Help {i}".encode())
        for i in range(config.support.acks_per_hour + 1)
    ]
    context = Context(config, Templates())
    store.insert_raw([IncomingRaw(data=mail, via="smtp") for mail in mails[:2]])
    processor.process_pending(store, context)  # two acknowledgements already written
    store.insert_raw([IncomingRaw(data=mail, via="smtp") for mail in mails[2:]])
    ahead = parse_next(open_database(store.url), 50, [], MAX_BYTES) if parsed_ahead else None

    processor.process_pending(store, context, 50, ahead)

    with store.session() as session:
        acknowledgements = session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.purpose == "acknowledgement")
        )
        suppressed = session.scalar(
            select(func.count(Event.id)).where(Event.what == "acknowledgement_suppressed")
        )
    assert (acknowledgements, suppressed) == (config.support.acks_per_hour, 1)


# --- mail without a usable From:, and forwarded requests ---


def processed(store: Store, config: Config, data: bytes, mail_from: str | None) -> dict[str, Any]:
    store.insert_raw([IncomingRaw(data=data, via="smtp", mail_from=mail_from)])
    assert processor.process_pending(store, Context(config, Templates())) == 1
    with store.reader() as session:
        ticket = session.scalars(select(Ticket)).one()
        return {
            "state": session.scalars(select(RawMessage.state)).one(),
            "requester": ticket.requester,
            "customer": ticket.customer_id,
            "sent": sorted(
                (m.purpose, m.recipients[0]) for m in session.scalars(select(OutboxMessage))
            ),
            "events": {e.what: e.detail for e in session.scalars(select(Event))},
            "text": session.scalars(
                select(TicketMessage.text).where(TicketMessage.direction == "in")
            ).one(),
        }


NO_FROM = b"To: support@contoso.example\r\nSubject: Printer\r\n\r\nThe printer is broken.\r\n"


def test_a_mail_without_from_makes_a_ticket_for_its_envelope_sender(
    config: Config, store: Store
) -> None:
    result = processed(store, config, NO_FROM, "anna@fabrikam.example")

    assert result["state"] == "done"
    assert (result["requester"], result["customer"]) == ("anna@fabrikam.example", "fabrikam")
    assert ("acknowledgement", "anna@fabrikam.example") in result["sent"]
    assert result["events"]["defects"] == {
        "defects": ["no From header; From taken from the envelope sender"]
    }


def test_a_mail_without_any_sender_makes_a_ticket_but_no_acknowledgement(
    config: Config, store: Store
) -> None:
    result = processed(store, config, NO_FROM, None)  # read over IMAP: no envelope

    assert result["state"] == "done"
    assert (result["requester"], result["customer"]) == ("", None)
    assert [purpose for purpose, _ in result["sent"]] == ["notification"]  # the "*" agents
    assert "acknowledgement_impossible" in result["events"]
    assert result["events"]["defects"]["defects"][0].startswith("no From header, and no other")


def test_a_forwarded_request_is_kept_whole_on_the_ticket(config: Config, store: Store) -> None:
    forward = (
        b"From: Anna <anna@fabrikam.example>\r\nSubject: FW: Printer\r\n\r\nSee below.\r\n\r\n"
        b"From: Piet <piet@fabrikam.example>\r\nSent: Tuesday, March 3, 2026 9:55 AM\r\n"
        b"To: Anna\r\nSubject: Printer\r\n\r\nThe printer on floor 3 is broken.\r\n"
    )

    result = processed(store, config, forward, "anna@fabrikam.example")

    assert result["text"] == (
        "See below.\n\n---------- Forwarded message ----------\nFrom: piet@fabrikam.example\n"
        "Date: Tuesday, March 3, 2026 9:55 AM\nSubject: Printer\n\n"
        "The printer on floor 3 is broken."
    )
    assert "defects" not in result["events"]


def test_the_request_text_of_a_forward_holds_the_forwarded_mail() -> None:
    forward = parse_message(
        b"From: Anna <anna@fabrikam.example>\r\nSubject: Fwd: Teams\r\n\r\nFYI\r\n\r\n"
        b"---------- Forwarded message ---------\r\nFrom: Piet <piet@fabrikam.example>\r\n"
        b"Subject: Teams\r\n\r\nTeams is down since 9.\r\n"
    )

    assert request_text(forward) == "FYI\n\nTeams is down since 9."
    assert request_text(parse_message(REQUEST)) == "Please help."


def test_a_follow_up_loses_the_closing_block_its_sender_s_first_mail_ended_with(
    config: Config, store: Store
) -> None:
    block = (
        b"Fabrikam BV | Kerkstraat 1 | Amsterdam\r\nTel. +31 20 555 0100\r\nwww.fabrikam.example"
    )
    first = REQUEST.replace(b"Please help.", b"Please help.\r\n\r\nGroet,\r\nAnna\r\n" + block)
    reply = (
        b"From: Anna <anna@fabrikam.example>\r\nTo: support@contoso.example\r\n"
        b"Subject: Re: Help\r\nMessage-ID: <q2@fabrikam.example>\r\n"
        b"In-Reply-To: <q1@fabrikam.example>\r\n\r\nIt is urgent.\r\n\r\nGroet,\r\nAnna\r\n"
        + block
        + b"\r\n"
    )
    store.insert_raw([IncomingRaw(data=first, via="smtp"), IncomingRaw(data=reply, via="smtp")])

    assert processor.process_pending(store, Context(config, Templates())) == 2

    with store.reader() as session:
        texts = session.scalars(
            select(TicketMessage.text)
            .where(TicketMessage.direction == "in")
            .order_by(TicketMessage.id)
        ).all()
    assert texts[0].endswith("www.fabrikam.example")  # the first mail: nothing to compare with
    assert texts[1] == "It is urgent.\n\nGroet,\nAnna"
