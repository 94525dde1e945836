"""gateway/delivery/outbox.py: queued mail goes to the relay, is retried with backoff, or fails for
good.

A fake relay stands in for the smarthost; the store is a real SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.config import Config, Outbound
from gateway.delivery import outbox
from gateway.delivery.relay import PermanentDeliveryError, TemporaryDeliveryError
from gateway.delivery.sender import OutgoingMail
from gateway.store import outbox as outbox_rows
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.models import OutboxMessage, utcnow

MAIL = OutgoingMail(
    purpose="acknowledgement",
    recipients=("anna@fabrikam.example",),
    envelope_from="support@contoso.example",
    message_id="<out-1@contoso.example>",
    subject="[CONTOSO#1] Printer broken",
    data=(
        b"From: support@contoso.example\r\nTo: anna@fabrikam.example\r\n"
        b"Message-ID: <out-1@contoso.example>\r\nSubject: [CONTOSO#1] Printer broken\r\n\r\n"
        b"We have registered your message.\r\n"
    ),
    rate_key="acknowledgement:anna@fabrikam.example",
)


class FakeRelay:
    """Records every delivery; raises the given outcomes in turn (None: accepted)."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, tuple[str, ...], bytes]] = []

    def deliver(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> None:
        self.calls.append((envelope_from, tuple(recipients), data))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


@pytest.fixture
def settings(config: Config) -> Outbound:
    return replace(
        config.outbound,
        retry_initial=timedelta(seconds=30),
        retry_max=timedelta(minutes=2),
        give_up_after=timedelta(days=3),
    )


def enqueue(store: Store, mail: OutgoingMail = MAIL) -> int:
    """Queue `mail`; its outbox id."""
    with store.session() as session:
        outbox.enqueue(Batch.immediate(session), mail, ticket_id=None)
        return session.scalar(select(func.max(OutboxMessage.id))) or 0


def row_of(store: Store, outbox_id: int) -> OutboxMessage:
    with store.session() as session:
        return session.get_one(OutboxMessage, outbox_id)


def make_due(store: Store, outbox_id: int, created_ago: timedelta = timedelta(0)) -> None:
    with store.session() as session:
        row = session.get_one(OutboxMessage, outbox_id)
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        row.created_at = utcnow() - created_ago


def deliver_timed(store: Store, relay: FakeRelay, settings: Outbound) -> tuple[datetime, datetime]:
    before = utcnow()
    outbox.deliver_due(store, relay, settings)
    return before, utcnow()


def test_enqueued_mail_is_pending_and_due_at_once(store: Store) -> None:
    outbox_id = enqueue(store)

    row = row_of(store, outbox_id)
    assert (row.state, row.attempts, row.purpose) == ("pending", 0, "acknowledgement")
    assert row.recipients == ["anna@fabrikam.example"]
    assert (row.message_id, row.data) == (MAIL.message_id, MAIL.data)
    assert row.next_attempt_at <= utcnow()


def test_delivered_mail_is_sent(store: Store, settings: Outbound) -> None:
    outbox_id = enqueue(store)
    relay = FakeRelay(None)

    tried = outbox.deliver_due(store, relay, settings)

    assert tried == 1
    assert relay.calls == [("support@contoso.example", ("anna@fabrikam.example",), MAIL.data)]
    row = row_of(store, outbox_id)
    assert (row.state, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None
    assert outbox.deliver_due(store, relay, settings) == 0  # sent mail is not sent again
    assert len(relay.calls) == 1


def test_a_temporary_failure_is_retried_later(store: Store, settings: Outbound) -> None:
    outbox_id = enqueue(store)
    relay = FakeRelay(TemporaryDeliveryError("451 try again"))

    before, after = deliver_timed(store, relay, settings)

    row = row_of(store, outbox_id)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "451 try again")
    assert before + timedelta(seconds=30) <= row.next_attempt_at <= after + timedelta(seconds=30)
    assert outbox.deliver_due(store, relay, settings) == 0  # not due yet
    assert len(relay.calls) == 1


def test_backoff_doubles_up_to_retry_max(store: Store, settings: Outbound) -> None:
    outbox_id = enqueue(store)
    relay = FakeRelay(*[TemporaryDeliveryError("451 busy") for _ in range(5)])

    for attempt, seconds in enumerate([30, 60, 120, 120, 120], start=1):
        make_due(store, outbox_id)
        before, after = deliver_timed(store, relay, settings)

        row = row_of(store, outbox_id)
        wait = timedelta(seconds=seconds)
        assert (row.state, row.attempts) == ("pending", attempt)
        assert before + wait <= row.next_attempt_at <= after + wait


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (7, 1920), (8, 3600), (30, 3600)],
)
def test_retry_delay(config: Config, attempts: int, seconds: int) -> None:
    settings = replace(
        config.outbound, retry_initial=timedelta(seconds=30), retry_max=timedelta(hours=1)
    )

    assert outbox.retry_delay(attempts, settings) == timedelta(seconds=seconds)


def test_retry_delay_stays_at_retry_max_after_many_attempts(config: Config) -> None:
    settings = replace(
        config.outbound, retry_initial=timedelta(seconds=30), retry_max=timedelta(hours=1)
    )

    assert outbox.retry_delay(43, settings) == timedelta(hours=1)


def test_a_long_outage_keeps_retrying_at_retry_max(store: Store, config: Config) -> None:
    settings = replace(
        config.outbound,
        retry_initial=timedelta(seconds=30),
        retry_max=timedelta(hours=1),
        give_up_after=timedelta(days=3),
    )
    outbox_id = enqueue(store)
    with store.session() as session:
        session.get_one(OutboxMessage, outbox_id).attempts = 42

    before, after = deliver_timed(store, FakeRelay(TemporaryDeliveryError("451 busy")), settings)

    row = row_of(store, outbox_id)
    assert (row.state, row.attempts) == ("pending", 43)
    assert before + timedelta(hours=1) <= row.next_attempt_at <= after + timedelta(hours=1)


def test_a_permanent_failure_fails_at_once(store: Store, settings: Outbound) -> None:
    outbox_id = enqueue(store)
    relay = FakeRelay(PermanentDeliveryError("550 no such user"))

    outbox.deliver_due(store, relay, settings)

    row = row_of(store, outbox_id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "550 no such user")
    assert row.sent_at is None
    make_due(store, outbox_id)
    assert outbox.deliver_due(store, relay, settings) == 0  # failed mail is not tried again


def test_a_temporary_failure_after_give_up_after_fails(store: Store, settings: Outbound) -> None:
    outbox_id = enqueue(store)
    make_due(store, outbox_id, created_ago=timedelta(days=3, minutes=1))
    relay = FakeRelay(TemporaryDeliveryError("451 still down"))

    outbox.deliver_due(store, relay, settings)

    row = row_of(store, outbox_id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "451 still down")


def test_a_temporary_failure_before_give_up_after_is_kept(store: Store, settings: Outbound) -> None:
    outbox_id = enqueue(store)
    make_due(store, outbox_id, created_ago=timedelta(days=2, hours=23))

    outbox.deliver_due(store, FakeRelay(TemporaryDeliveryError("451 still down")), settings)

    assert row_of(store, outbox_id).state == "pending"


def test_every_attempt_sends_the_same_bytes(store: Store, settings: Outbound) -> None:
    outbox_id = enqueue(store)
    relay = FakeRelay(TemporaryDeliveryError("451"), TemporaryDeliveryError("421"), None)

    for _ in range(3):
        make_due(store, outbox_id)
        outbox.deliver_due(store, relay, settings)

    assert row_of(store, outbox_id).state == "sent"
    assert [data for _, _, data in relay.calls] == [MAIL.data] * 3
    assert all(b"Message-ID: <out-1@contoso.example>" in data for _, _, data in relay.calls)


def test_only_due_mail_is_tried_in_order(store: Store, settings: Outbound) -> None:
    first = enqueue(store)
    later = enqueue(store, replace(MAIL, message_id="<out-2@contoso.example>", data=b"second"))
    with store.session() as session:
        session.get_one(OutboxMessage, later).next_attempt_at = utcnow() + timedelta(minutes=5)
    relay = FakeRelay()

    assert outbox.deliver_due(store, relay, settings) == 1

    assert [data for _, _, data in relay.calls] == [MAIL.data]
    assert (row_of(store, first).state, row_of(store, later).state) == ("sent", "pending")


def test_sent_recently_counts_by_rate_key(store: Store) -> None:
    enqueue(store)
    enqueue(store)
    enqueue(store, replace(MAIL, rate_key="acknowledgement:bob@adatum.example"))

    with store.session() as session:
        assert (
            outbox_rows.sent_recently(
                Batch.immediate(session), MAIL.rate_key or "", timedelta(hours=1)
            )
            == 2
        )
        assert (
            outbox_rows.sent_recently(
                Batch.immediate(session), "acknowledgement:nobody", timedelta(hours=1)
            )
            == 0
        )


def count_writes(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the store's writing transactions from now on (in a list, to share the count)."""
    writes = [0]
    real_session = store.session

    def counted(urgent: bool = False) -> AbstractContextManager[Session]:
        writes[0] += 1
        return real_session(urgent)

    monkeypatch.setattr(store, "session", counted)
    return writes


def test_the_outcomes_of_a_round_are_recorded_in_one_transaction(
    store: Store, settings: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit per mail (an fsync each) cost more than writing it into a maildir."""
    ids = [enqueue(store, replace(MAIL, message_id=f"<out-{i}@contoso.example>")) for i in range(5)]
    relay = FakeRelay(None, TemporaryDeliveryError("451 busy"), None, None, None)
    writes = count_writes(store, monkeypatch)

    assert outbox.deliver_due(store, relay, settings) == 5
    assert writes == [1]

    states = [row_of(store, outbox_id).state for outbox_id in ids]
    assert states == ["sent", "pending", "sent", "sent", "sent"]
    assert row_of(store, ids[1]).last_error == "451 busy"


def test_outcomes_are_recorded_at_least_every_record_every_seconds(
    store: Store, settings: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash sends again only what was sent since the last record."""
    monkeypatch.setattr(outbox, "RECORD_EVERY_SECONDS", 0.0)
    for i in range(3):
        enqueue(store, replace(MAIL, message_id=f"<out-{i}@contoso.example>"))
    writes = count_writes(store, monkeypatch)

    assert outbox.deliver_due(store, FakeRelay(), settings) == 3
    assert writes == [3]


def test_mail_sent_but_not_recorded_goes_again_and_is_logged(
    store: Store,
    settings: Outbound,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox_id = enqueue(store)
    real_session = store.session

    def database_gone(urgent: bool = False) -> Iterator[Session]:
        raise StorageUnavailable("database is locked")

    monkeypatch.setattr(store, "session", database_gone)
    with pytest.raises(StorageUnavailable):
        outbox.deliver_due(store, FakeRelay(), settings)
    assert f"outbox.sent_unrecorded id={outbox_id}" in caplog.text

    monkeypatch.setattr(store, "session", real_session)
    relay = FakeRelay()
    assert outbox.deliver_due(store, relay, settings) == 1
    assert [data for _, _, data in relay.calls] == [MAIL.data]  # the same bytes again
    assert row_of(store, outbox_id).state == "sent"
