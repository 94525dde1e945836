"""The schema as SQLAlchemy models, and the states a row can be in.

Alembic owns the schema (gateway/store/migrations); a change here needs a migration beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway import clock


def utcnow() -> datetime:
    """Now, by gateway/clock.py: the system clock, or in tests the one GATEWAYD_CLOCK sets."""
    return clock.now()


class RawState(StrEnum):
    """Where a stored message is: waiting to be processed, processed, or kept for `replay`."""

    NEW = "new"
    DONE = "done"
    QUARANTINED = "quarantined"
    # Stored by `gatewayd import` and processed by it, never by a daemon's worker (which would
    # acknowledge old mail as new): gateway/intake/mailbox_import.py.
    IMPORTING = "importing"


class TicketStatus(StrEnum):
    NEW = "new"  # nobody answered yet
    OPEN = "open"
    WAITING_CUSTOMER = "waiting_customer"  # closed after support.close_waiting_after
    WAITING_UPSTREAM = "waiting_upstream"  # escalated or forwarded
    CLOSED = "closed"


class OutboxState(StrEnum):
    PENDING = "pending"  # to send, now or at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # refused for good, or not delivered within outbound.give_up_after


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and read back time-zone aware (SQLite forgets the zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class RawMessage(Base):
    """Bytes exactly as received; the durable record that intake commits before saying 250."""

    __tablename__ = "raw_messages"
    __table_args__ = (
        UniqueConstraint("dedupe_key", "content_hash", name="uq_raw_messages_dedupe"),
        UniqueConstraint(
            "imap_mailbox", "imap_uidvalidity", "imap_uid", name="uq_raw_messages_imap_uid"
        ),
        Index("ix_raw_messages_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    via: Mapped[str] = mapped_column(String(16))  # smtp | imap | pipe
    source: Mapped[str] = mapped_column(String(255), default="")  # peer address or mailbox
    # Envelope sender: "" is the null sender of bounces (MAIL FROM:<>), None when not known
    # (IMAP, or a pipe not told).
    mail_from: Mapped[str | None] = mapped_column(String(998))
    rcpt_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    message_id: Mapped[str | None] = mapped_column(String(998))
    # Message-ID (or "" without one) + content hash: a redelivery is the same pair, a different
    # message that reuses a Message-ID is not.
    dedupe_key: Mapped[str] = mapped_column(String(998))
    content_hash: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default=RawState.NEW)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where an IMAP message came from: a crash between commit and MOVE must not fetch it again.
    imap_mailbox: Mapped[str | None] = mapped_column(String(64))
    imap_uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    imap_uid: Mapped[int | None] = mapped_column(BigInteger)


class ImapMailbox(Base):
    """What the gateway knows of one [[imap]] mailbox between runs."""

    __tablename__ = "imap_mailboxes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)  # highest UID taken so far
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Counter(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    subject: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    requester: Mapped[str] = mapped_column(String(998))
    queue: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    assignee: Mapped[str | None] = mapped_column(String(998))  # an agent's address
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    route_action: Mapped[str] = mapped_column(String(16))
    route_target: Mapped[str] = mapped_column(String(64))
    route_rule: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutageCluster(Base):
    """Requests of several customers about one problem: escalated upstream once, not per
    customer. `key` says what they share (a known issue, or category and upstream)."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_key", "key", "last_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(998))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    customers: Mapped[list[str]] = mapped_column(JSON, default=list)
    escalated_ticket: Mapped[int | None] = mapped_column(Integer)  # the number that went upstream


class TicketMessage(Base):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    raw_message_id: Mapped[int | None] = mapped_column(ForeignKey("raw_messages.id"), unique=True)
    direction: Mapped[str] = mapped_column(String(8))  # in | out
    kind: Mapped[str] = mapped_column(String(16))  # customer | agent | upstream | note | system
    from_addr: Mapped[str] = mapped_column(String(998))
    to_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    date: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    what: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TriageLabel(Base):
    """An agent's intent for a ticket: what `gatewayd triage train` learns from. The subject and
    text are the ticket's first customer message, as triage read it."""

    __tablename__ = "triage_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    intent: Mapped[str] = mapped_column(String(32))
    agent: Mapped[str] = mapped_column(String(998))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)


class OutboxMessage(Base):
    """A built message waiting for the relay; its bytes (and so its Message-ID) never change."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_rate", "rate_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))  # acknowledgement | notification | ...
    rate_key: Mapped[str | None] = mapped_column(String(998))
    message_id: Mapped[str] = mapped_column(String(998))
    envelope_from: Mapped[str] = mapped_column(String(998))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TimeEntry(Base):
    """An agent's `#time` on a ticket; a correction is a negative entry."""

    __tablename__ = "time_entries"
    __table_args__ = (Index("ix_time_entries_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    agent: Mapped[str] = mapped_column(String(998))
    minutes: Mapped[int] = mapped_column(Integer)
    billable: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    raw_message_id: Mapped[int | None] = mapped_column(ForeignKey("raw_messages.id"))


class SentOnce(Base):
    """A key per thing that must be done once among all daemons: "statements:2026-11",
    "digest:2026-12-01", "usage:fabrikam:2026-11:included:80". Written in the transaction that
    queues the mail, so it exists exactly when the mail does (gateway/store/sent_once.py)."""

    __tablename__ = "sent_once"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Alert(Base):
    """A problem told to the admin-agents and not yet resolved (gateway/runtime/alerts.py)."""

    __tablename__ = "alerts"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServiceRequestState(StrEnum):
    PENDING = "pending"  # to be created (or, for a note, added) in Partner Center
    OPEN = "open"  # created; followed every microsoft.poll
    CLOSED = "closed"  # closed by Microsoft (a note: added)
    FALLBACK = "fallback"  # given up on: escalated by e-mail instead
    FAILED = "failed"  # a note given up on


class ServiceRequestRow(Base):
    """An escalation as a Partner Center service request (gateway/delivery/service_requests.py):
    queued in the ticket's transaction, created from the queue, then followed."""

    __tablename__ = "service_requests"
    __table_args__ = (Index("ix_service_requests_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=ServiceRequestState.PENDING)
    tag: Mapped[str] = mapped_column(String(64))  # the ticket's tag, which the title begins with
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    support_topic_id: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(Text, default="")  # for the e-mail fallback
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)  # Partner Center's Id
    status: Mapped[str | None] = mapped_column(String(32))  # Partner Center's, at the last poll
    notes_seen: Mapped[int] = mapped_column(Integer, default=0)
    our_notes: Mapped[list[str]] = mapped_column(JSON, default=list)  # fingerprints of #upstream
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ServiceRequestNote(Base):
    """An agent's #upstream note, waiting to be added to its service request."""

    __tablename__ = "service_request_notes"
    __table_args__ = (Index("ix_service_request_notes_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), index=True)
    agent: Mapped[str] = mapped_column(String(998))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=ServiceRequestState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServiceHealthSnapshot(Base):
    """The service health issues Graph last listed for one tenant: "" for the partner's (the
    ones every customer's mail is matched with), else a customer's id (its own only)."""

    __tablename__ = "service_health_snapshots"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issues: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
