"""What an admin and a monitoring system want to know of a running gateway: queue depths, the
mailboxes' last successful checks, expiring tokens and certificates, raised alerts, and whether
the daemon can store mail at all.

One `Snapshot` feeds `/metrics`, `/healthz` (gateway/runtime/metrics.py) and `gatewayd
status`, so the three say the same. Queue depths come from the database, which daemons sharing
PostgreSQL share; the rest is what this daemon sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.store.models import ImapMailbox, OutboxMessage, OutboxState, RawMessage, RawState

QUEUES = ("stored_unprocessed", "quarantined", "outbox_waiting", "outbox_failed")


@dataclass(frozen=True)
class MailboxState:
    name: str
    last_success: datetime | None  # the last check that read the mailbox to its end
    waiting: int | None = None  # messages found in the mailbox and not yet taken
    error: str | None = None  # the last fault since then, if any


@dataclass(frozen=True)
class Expiry:
    kind: str  # token | certificate
    name: str  # what it is for: imap:<mailbox>, outbound
    at: datetime


@dataclass(frozen=True)
class Snapshot:
    at: datetime
    storage_error: str | None  # None: the database answers
    queues: Mapping[str, int] = field(default_factory=dict)  # empty when it does not
    mailboxes: Sequence[MailboxState] = ()
    expiries: Sequence[Expiry] = ()
    alerts: Sequence[str] = ()  # the problems raised now, as told to the admin-agents
    worker_alive: bool | None = None  # None: not known (`gatewayd status` without a daemon)

    def unhealthy(self, stall_after: timedelta, started: datetime | None = None) -> list[str]:
        """Why this daemon cannot store mail now, or its intake stalls; [] when healthy."""
        reasons = []
        if self.storage_error:
            reasons.append(f"database: {self.storage_error}")
        if self.worker_alive is False:
            reasons.append("worker: not running")
        for mailbox in self.mailboxes:
            since = mailbox.last_success or started
            if since is not None and self.at - since >= stall_after:
                when = since.isoformat(timespec="seconds")
                reasons.append(f"mailbox {mailbox.name}: not checked since {when}")
        return reasons

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "storage": {"ok": self.storage_error is None, "error": self.storage_error},
            "queues": dict(self.queues),
            "worker_alive": self.worker_alive,
            "mailboxes": [
                {
                    "name": m.name,
                    "last_success": m.last_success.isoformat() if m.last_success else None,
                    "waiting": m.waiting,
                    "error": m.error,
                }
                for m in self.mailboxes
            ],
            "expiries": [
                {"kind": e.kind, "name": e.name, "at": e.at.isoformat()} for e in self.expiries
            ],
            "alerts": list(self.alerts),
        }


def queue_depths(session: Session) -> dict[str, int]:
    """Two grouped counts, each over an index whose first column is the state."""
    raw = _counts(session, RawMessage.state, (RawState.NEW, RawState.QUARANTINED))
    out = _counts(session, OutboxMessage.state, (OutboxState.PENDING, OutboxState.FAILED))
    return {
        "stored_unprocessed": raw.get(RawState.NEW, 0),
        "quarantined": raw.get(RawState.QUARANTINED, 0),
        "outbox_waiting": out.get(OutboxState.PENDING, 0),
        "outbox_failed": out.get(OutboxState.FAILED, 0),
    }


def _counts(session: Session, state: Any, states: tuple[str, ...]) -> dict[str, int]:
    rows = session.execute(select(state, func.count()).where(state.in_(states)).group_by(state))
    return {str(name): int(count) for name, count in rows}


def stored_mailboxes(session: Session, names: Sequence[str]) -> list[MailboxState]:
    """The mailboxes' last successful checks as the database keeps them (any daemon's)."""
    rows = {m.name: m for m in session.scalars(select(ImapMailbox))}
    return [MailboxState(n, rows[n].last_success_at if n in rows else None) for n in names]
