"""gateway/runtime/worker.py in one process: in a flood, stored mail becomes tickets first and the
outbox waits, but never longer than DELIVERY_YIELDS_SECONDS per round. (The worker as a child
of the real daemon is tested in tests/e2e/test_worker.py.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from sqlalchemy import select, update

from gateway.config import Config
from gateway.delivery import outbox
from gateway.processing import decision
from gateway.runtime import worker as worker_module
from gateway.runtime.parse_ahead import Parsed
from gateway.runtime.worker import Worker
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.models import RawMessage, TicketMessage
from gateway.store.raw_messages import IncomingRaw
from tests.gateway.test_outbox import MAIL

REQUEST = (
    b"From: Anna <anna@fabrikam.example>\r\nTo: support@contoso.example\r\n"
    b"Subject: Printer broken\r\nMessage-ID: <w1@fabrikam.example>\r\n\r\nPlease help.\r\n"
)


class Relay:
    def __init__(self) -> None:
        self.sent_at: list[float] = []

    def deliver(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> None:
        self.sent_at.append(time.monotonic())


@pytest.fixture
def worker(config: Config, store: Store, monkeypatch: pytest.MonkeyPatch) -> Worker:
    monkeypatch.setattr(worker_module, "DELIVERY_YIELDS_SECONDS", 0.5)
    worker = Worker(config, store)
    worker.relay = Relay()
    return worker


def queue_mail(store: Store) -> None:
    with store.session() as session:
        outbox.enqueue(Batch.immediate(session), MAIL, ticket_id=None)


def test_processing_marks_a_backlog_until_a_round_finds_nothing(
    worker: Worker, store: Store
) -> None:
    store.insert_raw([IncomingRaw(data=REQUEST, via="smtp")])
    assert worker.processing_idle.is_set()

    assert worker._process() == 1
    assert not worker.processing_idle.is_set()  # the loop asks again at once
    assert worker._process() == 0
    assert worker.processing_idle.is_set()


def seconds_until_sent(worker: Worker, store: Store) -> float:
    """One mail queued and a round of delivery: how long until the relay had it."""
    queue_mail(store)
    started = time.monotonic()
    assert worker._deliver() == 1
    assert isinstance(worker.relay, Relay)
    return worker.relay.sent_at[0] - started


def test_delivery_waits_while_processing_has_a_backlog(worker: Worker, store: Store) -> None:
    worker.processing_idle.clear()
    threading.Timer(0.2, worker.processing_idle.set).start()  # the backlog is done

    assert 0.15 <= seconds_until_sent(worker, store) < 0.45


def test_delivery_waits_no_longer_than_its_bound(worker: Worker, store: Store) -> None:
    """A flood that never ends does not stop the mail."""
    worker.processing_idle.clear()

    assert 0.45 <= seconds_until_sent(worker, store) < 2.0


def test_without_a_backlog_delivery_starts_at_once(worker: Worker, store: Store) -> None:
    assert seconds_until_sent(worker, store) < 0.15


def mails(count: int) -> list[IncomingRaw]:
    return [
        IncomingRaw(data=REQUEST.replace(b"w1@", f"w{n}@".encode()), via="smtp")
        for n in range(1, count + 1)
    ]


def ticket_numbers_by_raw(store: Store) -> list[int | None]:
    with store.session() as session:
        rows = session.execute(
            select(TicketMessage.raw_message_id)
            .where(TicketMessage.direction == "in")
            .order_by(TicketMessage.ticket_id)
        )
        return [raw_id for (raw_id,) in rows]


def test_a_full_batch_starts_the_parser_stage_and_a_quiet_spell_stops_it(
    worker: Worker,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the stage up, each batch was parsed while the one before was written: all in
    order, none twice."""
    monkeypatch.setattr(worker_module, "PROCESS_BATCH", 2)
    store.insert_raw(mails(9))
    try:
        assert worker._process() == 2
        assert worker.parse_ahead.running()
        assert worker.parse_ahead.wait_ready(30)
        handled = [worker._process() for _ in range(6)]
        assert sum(handled) == 7 and handled[-1] == 0
        assert "parse_ahead.failed" not in caplog.text
        assert worker.parse_ahead.running()  # quiet for less than a minute

        monkeypatch.setattr(worker_module, "PARSE_AHEAD_IDLE_SECONDS", 0.0)
        assert worker._process() == 0
        assert not worker.parse_ahead.running()
    finally:
        worker.parse_ahead.stop()
    assert ticket_numbers_by_raw(store) == list(range(1, 10))  # in the order they came


class RecordingAhead:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def take(self) -> None:
        self.calls.append("take")

    def request(self, limit: int, exclude: Sequence[int]) -> bool:
        self.calls.append(f"request {list(exclude)}")
        return True

    def discard(self) -> None:
        self.calls.append("discard")

    def running(self) -> bool:
        return True

    def stop(self) -> None:
        self.calls.append("stop")


def test_a_batch_ended_early_drops_what_was_parsed_ahead(
    worker: Worker, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch parsed ahead left out the rest of this one, which must not come after it."""
    monkeypatch.setattr(worker_module, "PROCESS_BATCH", 3)
    monkeypatch.setattr(store, "should_yield", lambda: True)  # intake waits: one at a time
    ahead = RecordingAhead()
    worker.parse_ahead = ahead  # type: ignore[assignment]
    store.insert_raw(mails(3))

    assert worker._process() == 1

    assert ahead.calls == ["take", "request [1, 2, 3]", "discard"]


def test_a_batch_parsed_ahead_that_was_taken_meanwhile_does_not_stop_processing(
    worker: Worker, store: Store
) -> None:
    """E.g. another daemon on the same PostgreSQL database took all of it: the worker takes the
    next new messages in the same round, instead of waiting for the next wake-up."""
    ahead = RecordingAhead()
    ahead.take = lambda: Parsed(ids=(1,))  # type: ignore[method-assign,assignment]
    worker.parse_ahead = ahead  # type: ignore[assignment]
    store.insert_raw(mails(2))
    with store.session() as session:
        session.execute(update(RawMessage).where(RawMessage.id == 1).values(state="done"))

    assert worker._process() == 1
    assert ticket_numbers_by_raw(store) == [2]


def test_a_batch_rolled_back_drops_what_was_parsed_ahead(
    worker: Worker, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database failed mid-batch: the batch parsed ahead left this one out."""
    monkeypatch.setattr(worker_module, "PROCESS_BATCH", 3)
    ahead = RecordingAhead()
    worker.parse_ahead = ahead  # type: ignore[assignment]
    store.insert_raw(mails(3))

    def database_gone(*args: object, **kwargs: object) -> None:
        raise StorageUnavailable("disk I/O error")

    monkeypatch.setattr(decision, "route", database_gone)
    with pytest.raises(StorageUnavailable):
        worker._process()

    assert ahead.calls == ["take", "request [1, 2, 3]", "discard"]
