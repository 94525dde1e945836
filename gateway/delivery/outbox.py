"""The outbox: built messages wait here until the relay takes them, retried with backoff.

A message is enqueued in the same transaction as the ticket change that caused it, so a crash
never loses or doubles it; its bytes (and Message-ID) stay the same on every attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.config import Outbound
from gateway.delivery.relay import PermanentDeliveryError, Relay, TemporaryDeliveryError
from gateway.delivery.sender import OutgoingMail
from gateway.logs import log_event
from gateway.processing import tickets
from gateway.store import outbox as rows
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.models import OutboxMessage, OutboxState, Ticket, utcnow

log = logging.getLogger("gateway.outbox")


_HELD_BACK = "outbox.held_back"  # the batch's info key: nothing is queued in it


@contextmanager
def queueing(batch: Batch, mail: bool) -> Iterator[None]:
    """With `mail=False`, every enqueue in `batch` does nothing: `gatewayd import --no-mail`
    runs the usual stages on a mailbox's past, and nobody may hear of it."""
    if mail:
        yield
        return
    batch.info[_HELD_BACK] = True
    try:
        yield
    finally:
        batch.info.pop(_HELD_BACK, None)


def enqueue(batch: Batch, mail: OutgoingMail, ticket_id: int | None) -> None:
    """Queue a built message (with the batch's other rows: gateway/store/batch.py)."""
    if batch.info.get(_HELD_BACK):
        return
    now = utcnow()
    values = {
        "ticket_id": ticket_id,
        "purpose": mail.purpose,
        "rate_key": mail.rate_key,
        "message_id": mail.message_id,
        "envelope_from": mail.envelope_from,
        "recipients": list(mail.recipients),
        "subject": mail.subject,
        "data": mail.data,
        "state": OutboxState.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    batch.add(rows.INSERT, values)


def send_for_ticket(batch: Batch, ticket: Ticket, mail: OutgoingMail, kind: str = "system") -> None:
    """Queue `mail` and keep it on the ticket, whose replies thread by its Message-ID."""
    if batch.info.get(_HELD_BACK) and kind == "system":
        return  # archive mode: no acknowledgement or notification went out, so none is kept
    enqueue(batch, mail, ticket.id)
    tickets.add_message(
        batch,
        ticket,
        direction="out",
        kind=kind,
        from_addr=mail.envelope_from,
        to=mail.recipients,
        subject=mail.subject,
        message_id=mail.message_id,
        text=f"({mail.purpose})",
    )


def retry_delay(attempts: int, settings: Outbound) -> timedelta:
    """Exponential backoff from retry_initial, capped at retry_max."""
    # Cap the exponent first: after a long outage 2**attempts overflows a timedelta.
    doublings = min(max(attempts - 1, 0), 32)
    return min(settings.retry_initial * 2**doublings, settings.retry_max)


@dataclass(frozen=True)
class Undeliverable:
    """A message given up on: refused for good, or not delivered within give_up_after."""

    outbox_id: int
    purpose: str
    recipients: tuple[str, ...]
    subject: str
    attempts: int
    error: str


def deliver_due(
    store: Store,
    relay: Relay,
    settings: Outbound,
    limit: int = 50,
    on_given_up: Callable[[Undeliverable], None] = lambda mail: None,
    observe: Callable[[str, float | None], None] = lambda outcome, seconds: None,
) -> int:
    """Try every message that is due, up to `limit`; returns how many were tried. `observe`
    hears each attempt's outcome (sent, retry, failed) once recorded, and for a mail sent its
    seconds since it was queued."""
    attempts: Iterable[_Attempt | None]
    if store.dialect == "postgresql":
        attempts = _deliver_locked(store, relay, settings, limit)
    else:
        attempts = _deliver_unlocked(store, relay, settings, limit)
    tried = 0
    for attempt in attempts:
        tried += 1
        if attempt is None:  # no longer pending
            continue
        if attempt.sent:  # said only now, after the commit
            log_event(
                log, "outbox.sent", id=attempt.outbox_id, purpose=attempt.purpose, to=attempt.to
            )
        if attempt.given_up:
            on_given_up(attempt.given_up)
        observe(attempt.outcome, attempt.waited)
    return tried


@dataclass(frozen=True)
class _Attempt:
    outbox_id: int
    purpose: str
    to: int  # recipients
    sent: bool
    given_up: Undeliverable | None = None
    waited: float | None = None  # seconds from queueing to sending, for a mail sent

    @property
    def outcome(self) -> str:
        return "sent" if self.sent else "failed" if self.given_up else "retry"


# --- PostgreSQL: several daemons share the outbox ---


def _deliver_locked(
    store: Store, relay: Relay, settings: Outbound, limit: int
) -> Iterator[_Attempt]:
    """One message at a time, each sent while its row is locked (FOR UPDATE SKIP LOCKED): the
    other daemons skip it, and when this one dies the lock goes with its connection, so another
    sends the message at once. (A lease of minutes written on the row kept every message this
    daemon had claimed waiting that long after a crash.) The only message sent twice is one the
    relay took just before the crash, before its row was marked as sent."""
    for _ in range(limit):
        attempt = _deliver_next(store, relay, settings)
        if attempt is None:
            return
        yield attempt


def _deliver_next(store: Store, relay: Relay, settings: Outbound) -> _Attempt | None:
    sent_id: int | None = None
    try:
        with store.session() as session:
            row = session.scalars(
                rows.due(utcnow()).limit(1).with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            failure = _send(relay, row.envelope_from, row.recipients, row.data)
            sent_id = row.id if failure is None else None
            return _record(row, failure, settings)
    except StorageUnavailable:
        if sent_id is not None:
            # The relay has it and the database does not know: it goes again, with the same
            # Message-ID, once the database is back.
            log_event(log, "outbox.sent_unrecorded", level=logging.WARNING, id=sent_id)
        raise


# --- SQLite: one daemon per database file ---

# Outcomes are written together, at least this often: a commit per message (each an fsync) cost
# more than the delivery, and a crash sends again only what was sent since the last record.
RECORD_EVERY_SECONDS = 0.5


@dataclass(frozen=True)
class _Tried:
    """A mail sent or refused, without its bytes: a round must not hold all of them."""

    outbox_id: int
    purpose: str
    recipients: int
    failure: _Failure | None
    created_at: datetime


def _deliver_unlocked(
    store: Store, relay: Relay, settings: Outbound, limit: int
) -> Iterator[_Attempt]:
    """One SQLite database has one daemon, which needs no lock while it sends: no write lock is
    held during a relay conversation, so intake never waits for one. The outcomes are recorded
    in one transaction every RECORD_EVERY_SECONDS."""
    tried: list[_Tried] = []
    since = time.monotonic()
    for outbox_id in rows.due_ids(store, limit):
        mail = rows.load(store, outbox_id)
        if mail is None:  # no longer pending
            continue
        failure = _send(relay, mail.envelope_from, mail.recipients, mail.data)
        tried.append(
            _Tried(mail.outbox_id, mail.purpose, len(mail.recipients), failure, mail.created_at)
        )
        if time.monotonic() - since >= RECORD_EVERY_SECONDS:
            yield from _record_all(store, tried, settings)
            tried, since = [], time.monotonic()
    yield from _record_all(store, tried, settings)


def _record_all(store: Store, tried: list[_Tried], settings: Outbound) -> list[_Attempt]:
    """Mail sent is marked in one statement; a failed attempt (rare) goes through `_record`."""
    if not tried:
        return []
    attempts = []
    sent = [mail for mail in tried if mail.failure is None]
    try:
        with store.session() as session:
            now = utcnow()
            marks = [{"outbox_id": mail.outbox_id, "now": now} for mail in sent]
            if marks:
                rows.mark_sent(session, marks)
            for mail in tried:
                if mail.failure is None:
                    waited = (now - mail.created_at).total_seconds()
                    attempts.append(
                        _Attempt(mail.outbox_id, mail.purpose, mail.recipients, True, None, waited)
                    )
                else:
                    row = session.get_one(OutboxMessage, mail.outbox_id)
                    attempts.append(_record(row, mail.failure, settings))
    except StorageUnavailable:
        for mail in sent:  # the relay has them, the database does not know: they go again
            log_event(log, "outbox.sent_unrecorded", level=logging.WARNING, id=mail.outbox_id)
        raise
    return attempts


# --- one attempt ---


@dataclass(frozen=True)
class _Failure:
    error: str
    permanent: bool


def _send(relay: Relay, envelope_from: str, recipients: list[str], data: bytes) -> _Failure | None:
    try:
        relay.deliver(envelope_from, recipients, data)
    except TemporaryDeliveryError as exc:
        return _Failure(str(exc), permanent=False)
    except PermanentDeliveryError as exc:
        return _Failure(str(exc), permanent=True)
    return None


def _record(row: OutboxMessage, failure: _Failure | None, settings: Outbound) -> _Attempt:
    """Write the outcome of an attempt on the row, in the caller's transaction."""
    row.attempts += 1
    if failure is None:
        row.state, row.sent_at, row.last_error = OutboxState.SENT, utcnow(), None
        waited = (row.sent_at - row.created_at).total_seconds()
        return _Attempt(row.id, row.purpose, len(row.recipients), sent=True, waited=waited)
    now = utcnow()
    row.last_error = failure.error[:2000]
    if failure.permanent or now - row.created_at >= settings.give_up_after:
        row.state = OutboxState.FAILED
        log_event(
            log,
            "outbox.failed",
            level=logging.ERROR,
            id=row.id,
            purpose=row.purpose,
            attempts=row.attempts,
            error=failure.error,
        )
        given_up = Undeliverable(
            row.id,
            row.purpose,
            tuple(row.recipients),
            row.subject,
            row.attempts,
            failure.error[:500],
        )
        return _Attempt(row.id, row.purpose, len(row.recipients), sent=False, given_up=given_up)
    row.next_attempt_at = now + retry_delay(row.attempts, settings)
    log_event(
        log,
        "outbox.retry",
        level=logging.WARNING,
        id=row.id,
        attempts=row.attempts,
        next_attempt=_iso(row.next_attempt_at),
        error=failure.error,
    )
    return _Attempt(row.id, row.purpose, len(row.recipients), sent=False)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
