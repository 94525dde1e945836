"""The outbox: built messages wait here until the relay takes them, retried with backoff.

A message is enqueued in the same transaction as the ticket change that caused it, so a crash
never loses or doubles it; its bytes (and Message-ID) stay the same on every attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from gateway import tickets
from gateway.config import Outbound
from gateway.logs import log_event
from gateway.relay import PermanentDeliveryError, Relay, TemporaryDeliveryError
from gateway.sender import OutgoingMail
from gateway.storage import OutboxMessage, Store, Ticket, utcnow

log = logging.getLogger("gateway.outbox")
SEND_LEASE = timedelta(minutes=5)  # longer than any relay conversation takes
# Core, built once: see gateway/tickets.py.
_INSERT = insert(OutboxMessage.__table__).returning(OutboxMessage.__table__.c.id)


def enqueue(session: Session, mail: OutgoingMail, ticket_id: int | None) -> int:
    """Queue a built message; returns its outbox id."""
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
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return int(session.connection().execute(_INSERT, values).scalar_one())


def send_for_ticket(
    session: Session, ticket: Ticket, mail: OutgoingMail, kind: str = "system"
) -> int:
    """Queue `mail` and keep it on the ticket, whose replies thread by its Message-ID."""
    outbox_id = enqueue(session, mail, ticket.id)
    tickets.add_message(
        session,
        ticket,
        direction="out",
        kind=kind,
        from_addr=mail.envelope_from,
        to=mail.recipients,
        subject=mail.subject,
        message_id=mail.message_id,
        text=f"({mail.purpose})",
    )
    return outbox_id


def sent_recently(session: Session, rate_key: str, within: timedelta) -> int:
    statement = select(func.count(OutboxMessage.id)).where(
        OutboxMessage.rate_key == rate_key, OutboxMessage.created_at >= utcnow() - within
    )
    return int(session.scalar(statement) or 0)


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
) -> int:
    """Try every message that is due; returns how many were tried."""
    claimed = _claim_due(store, limit)
    for outbox_id in claimed:
        given_up = _deliver_one(store, relay, settings, outbox_id)
        if given_up:
            on_given_up(given_up)
    return len(claimed)


def _claim_due(store: Store, limit: int) -> list[int]:
    """Due messages. On PostgreSQL, where several daemons may share the outbox, they are leased
    to this daemon: the others skip them, and take them over when the lease runs out (this one
    died while sending). One SQLite database has one daemon, which needs no lease."""
    now = utcnow()
    with store.session() as session:
        due = list(
            session.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if due and store.dialect == "postgresql":
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(due))
                .values(next_attempt_at=now + SEND_LEASE)
            )
    return due


def _deliver_one(
    store: Store, relay: Relay, settings: Outbound, outbox_id: int
) -> Undeliverable | None:
    with store.reader() as session:
        row = session.get(OutboxMessage, outbox_id)
        if row is None or row.state != "pending":
            return None
        envelope_from, recipients, data = row.envelope_from, list(row.recipients), row.data
    try:
        relay.deliver(envelope_from, recipients, data)
    except TemporaryDeliveryError as exc:
        return _record_failure(store, outbox_id, str(exc), settings, permanent=False)
    except PermanentDeliveryError as exc:
        return _record_failure(store, outbox_id, str(exc), settings, permanent=True)
    else:
        with store.session() as session:
            row = session.get_one(OutboxMessage, outbox_id)
            row.state, row.sent_at, row.attempts = "sent", utcnow(), row.attempts + 1
            row.last_error = None
        log_event(log, "outbox.sent", id=outbox_id, purpose=row.purpose, to=len(recipients))
        return None


def _record_failure(
    store: Store, outbox_id: int, error: str, settings: Outbound, permanent: bool
) -> Undeliverable | None:
    now = utcnow()
    with store.session() as session:
        row = session.get_one(OutboxMessage, outbox_id)
        row.attempts += 1
        row.last_error = error[:2000]
        expired = now - row.created_at >= settings.give_up_after
        if permanent or expired:
            row.state = "failed"
            log_event(
                log,
                "outbox.failed",
                level=logging.ERROR,
                id=outbox_id,
                purpose=row.purpose,
                attempts=row.attempts,
                error=error,
            )
            return Undeliverable(
                outbox_id,
                row.purpose,
                tuple(row.recipients),
                row.subject,
                row.attempts,
                error[:500],
            )
        row.next_attempt_at = now + retry_delay(row.attempts, settings)
        log_event(
            log,
            "outbox.retry",
            level=logging.WARNING,
            id=outbox_id,
            attempts=row.attempts,
            next_attempt=_iso(row.next_attempt_at),
            error=error,
        )
    return None


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
