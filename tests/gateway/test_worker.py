"""gateway/worker.py in one process: in a flood, stored mail becomes tickets first and the
outbox waits, but never longer than DELIVERY_YIELDS_SECONDS per round. (The worker as a child
of the real daemon is tested in tests/e2e/test_worker.py.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from gateway import outbox
from gateway import worker as worker_module
from gateway.config import Config
from gateway.sender import OutgoingMail
from gateway.storage import IncomingRaw, Store
from gateway.worker import Worker

REQUEST = (
    b"From: Anna <anna@fabrikam.example>\r\nTo: support@contoso.example\r\n"
    b"Subject: Printer broken\r\nMessage-ID: <w1@fabrikam.example>\r\n\r\nPlease help.\r\n"
)
MAIL = OutgoingMail(
    purpose="acknowledgement",
    recipients=("anna@fabrikam.example",),
    envelope_from="support@contoso.example",
    message_id="<out-1@contoso.example>",
    subject="[CONTOSO#1] Printer broken",
    data=b"Subject: [CONTOSO#1] Printer broken\r\n\r\nRegistered.\r\n",
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
        outbox.enqueue(session, MAIL, ticket_id=None)


def test_processing_marks_a_backlog_until_a_round_finds_nothing(
    worker: Worker, store: Store
) -> None:
    store.insert_raw([IncomingRaw(data=REQUEST, via="smtp")])
    assert worker.processing_idle.is_set()

    assert worker._process() == 1
    assert not worker.processing_idle.is_set()  # the loop asks again at once
    assert worker._process() == 0
    assert worker.processing_idle.is_set()


def test_delivery_waits_while_processing_has_a_backlog(worker: Worker, store: Store) -> None:
    queue_mail(store)
    worker.processing_idle.clear()
    threading.Timer(0.2, worker.processing_idle.set).start()  # the backlog is done

    started = time.monotonic()
    assert worker._deliver() == 1

    assert isinstance(worker.relay, Relay)
    assert 0.15 <= worker.relay.sent_at[0] - started < 0.45


def test_delivery_waits_no_longer_than_its_bound(worker: Worker, store: Store) -> None:
    """A flood that never ends does not stop the mail."""
    queue_mail(store)
    worker.processing_idle.clear()

    started = time.monotonic()
    assert worker._deliver() == 1

    assert isinstance(worker.relay, Relay)
    assert 0.45 <= worker.relay.sent_at[0] - started < 2.0


def test_without_a_backlog_delivery_starts_at_once(worker: Worker, store: Store) -> None:
    queue_mail(store)

    started = time.monotonic()
    assert worker._deliver() == 1

    assert isinstance(worker.relay, Relay)
    assert worker.relay.sent_at[0] - started < 0.15
