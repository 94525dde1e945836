"""The outbox table: all SQL on it. The rows are queued (gateway/delivery/outbox.py's `enqueue`
adds them to the batch with INSERT), counted for the rate limits, and read and marked by
delivery."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import OutboxMessage, OutboxState, utcnow

# Core, built once: see gateway/processing/tickets.py.
OUTBOX = OutboxMessage.__table__
INSERT = insert(OUTBOX)
SENT_SINCE = select(func.count(OUTBOX.c.id)).where(
    OUTBOX.c.rate_key == bindparam("rate_key"), OUTBOX.c.created_at >= bindparam("since")
)


def sent_recently(batch: Batch, rate_key: str, within: timedelta) -> int:
    """Mail of `rate_key` queued within `within`, counting the batch's mail not yet written."""
    since = utcnow() - within
    written = _counted_ahead(batch, rate_key, since)
    if written is None:
        result = batch.session.connection().execute(
            SENT_SINCE, {"rate_key": rate_key, "since": since}
        )
        written = int(result.scalar_one())
    waiting = batch.pending(
        INSERT, lambda row: row["rate_key"] == rate_key and row["created_at"] >= since
    )
    return written + waiting


@dataclass(frozen=True)
class _Counted:
    since: datetime
    counts: dict[str, int]
    generation: int | None  # of the deferred rows when counted


_COUNTED = "gateway.outbox.counted"
SENT_SINCE_BY_KEY = (
    select(OUTBOX.c.rate_key, func.count(OUTBOX.c.id))
    .where(
        OUTBOX.c.rate_key.in_(bindparam("rate_keys", expanding=True)),
        OUTBOX.c.created_at >= bindparam("since"),
    )
    .group_by(OUTBOX.c.rate_key)
)


def count_ahead(batch: Batch, rate_keys: Iterable[str], within: timedelta) -> None:
    """Count the written mail of several keys in one statement, for the `sent_recently` calls
    of a processing batch (gateway/store/batch.py): one each cost a statement per new ticket. The
    counts hold until the batch writes its deferred rows."""
    keys = set(rate_keys)
    if not keys or not batch.deferring:
        return
    since = utcnow() - within
    values = {"rate_keys": sorted(keys), "since": since}
    rows = batch.session.connection().execute(SENT_SINCE_BY_KEY, values)
    counts = dict.fromkeys(keys, 0) | {key: int(count) for key, count in rows}
    batch.info[_COUNTED] = _Counted(since, counts, batch.generation)


def _counted_ahead(batch: Batch, rate_key: str, since: datetime) -> int | None:
    counted: _Counted | None = batch.info.get(_COUNTED)
    if (
        counted is None
        or rate_key not in counted.counts
        or counted.generation != batch.generation
        or counted.since > since  # a longer window than was counted
    ):
        return None
    # Counted from a moment earlier: mail that has meanwhile left the window still counts, so
    # a limit holds for a few milliseconds longer than it must, never shorter.
    return counted.counts[rate_key]


def due(now: datetime) -> Select[Any]:
    return (
        select(OutboxMessage)
        .where(OutboxMessage.state == OutboxState.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
    )


@dataclass(frozen=True)
class Loaded:
    """What delivery reads of a pending message."""

    outbox_id: int
    purpose: str
    recipients: list[str]
    envelope_from: str
    data: bytes
    created_at: datetime


def due_ids(store: Store, limit: int) -> list[int]:
    with store.reader() as session:
        return list(session.scalars(due(utcnow()).with_only_columns(OutboxMessage.id).limit(limit)))


LOAD = select(
    OUTBOX.c.id,
    OUTBOX.c.purpose,
    OUTBOX.c.recipients,
    OUTBOX.c.envelope_from,
    OUTBOX.c.data,
    OUTBOX.c.created_at,
).where(OUTBOX.c.id == bindparam("outbox_id"), OUTBOX.c.state == OutboxState.PENDING)
MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("outbox_id"))
    .values(
        state=OutboxState.SENT,
        sent_at=bindparam("now"),
        last_error=None,
        attempts=OUTBOX.c.attempts + 1,
    )
)


def load(store: Store, outbox_id: int) -> Loaded | None:
    """One message's bytes at a time: outgoing mail may carry a customer's attachments."""
    with store.reader() as session:
        row = session.connection().execute(LOAD, {"outbox_id": outbox_id}).first()
    return Loaded(*row) if row else None


def mark_sent(session: Session, marks: Sequence[dict[str, Any]]) -> None:
    """Mail the relay took, in one statement: [{"outbox_id", "now"}, ...]."""
    session.connection().execute(MARK_SENT, marks)
