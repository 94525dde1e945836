"""`gatewayd import PATH`: a mailbox's history into the gateway, each message exactly once.

Each batch is stored the way intake stores mail (the same identity: a message already stored,
by an earlier import, SMTP or IMAP, adds nothing) but in the state `importing`, in the same
transaction, so that a running daemon's worker never takes it: it would acknowledge three-year-
old mail. The import then processes the batch itself, through the processor's usual stages, so
its mail threads by the usual rules. With `mail=False` (archive mode, `--no-mail`) nothing is
queued for anyone, no acknowledgement or notification is kept on a ticket (none went out),
the tickets it opens are closed (the past is on record, and no first-response reminder falls
due for it), and a follow-up changes no ticket's status: an old mail that threads onto a ticket
open today leaves it open. A batch interrupted between its two transactions
stays `importing` and is processed by the next import.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import select, update

from gateway.intake.mailbox_files import MailboxFile
from gateway.processing.processor import Context, process_imported
from gateway.store.engine import Store
from gateway.store.models import RawMessage, RawState
from gateway.store.raw_messages import IncomingRaw, insert_raw_rows

BATCH = 100  # as the worker's: one transaction each to store and to process


@dataclass(frozen=True)
class ImportSummary:
    read: int  # messages in PATH
    stored: int  # new to the gateway
    outcomes: dict[
        str, int
    ]  # processing outcome -> messages (gateway/processing/stages.py OUTCOMES)
    seconds: float

    @property
    def already_stored(self) -> int:
        return self.read - self.stored

    def as_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "stored": self.stored,
            "already_stored": self.already_stored,
            "tickets": self.outcomes.get("ticket", 0),
            "follow_ups": self.outcomes.get("follow_up", 0),
            "robots": self.outcomes.get("robot", 0),
            "quarantined": self.outcomes.get("quarantined", 0),
            "outcomes": dict(self.outcomes),
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        summary = self.as_json()
        rate = self.read / self.seconds if self.seconds else 0.0
        return [
            f"read {self.read} messages in {self.seconds:.1f} s ({rate:.0f}/s): "
            f"{self.stored} new, {self.already_stored} already stored",
            f"tickets made {summary['tickets']}, follow-ups {summary['follow_ups']}, "
            f"robots {summary['robots']}, quarantined {summary['quarantined']}",
        ]


def import_mailbox(
    store: Store,
    context: Context,
    source: MailboxFile,
    mail: bool,
    progress: Callable[[int], None] = lambda done: None,
) -> ImportSummary:
    """Store and process every message of `source`; `progress` hears each batch's size."""
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    outcomes.update(_process(store, context, _left_over(store), mail))  # an import cut short
    read = stored = 0
    for batch in _batches(source.messages(), BATCH):
        ids = _store(
            store, [IncomingRaw(data, via="import", source=where) for where, data in batch]
        )
        outcomes.update(_process(store, context, ids, mail))
        read, stored = read + len(batch), stored + len(ids)
        progress(len(batch))
    return ImportSummary(read, stored, dict(outcomes), time.monotonic() - started)


def _batches(messages: Iterator[tuple[str, bytes]], size: int) -> Iterator[list[tuple[str, bytes]]]:
    while batch := list(islice(messages, size)):
        yield batch


def _store(store: Store, items: list[IncomingRaw]) -> list[int]:
    """The new messages' ids; stored as `importing` in the transaction that inserts them."""
    with store.session() as session:
        ids = [raw_id for raw_id in insert_raw_rows(session, items) if raw_id is not None]
        if ids:
            session.execute(
                update(RawMessage)
                .where(RawMessage.id.in_(ids))
                .values(state=RawState.IMPORTING)
                .execution_options(synchronize_session=False)
            )
    return ids


def _left_over(store: Store) -> list[int]:
    with store.reader() as session:
        waiting = select(RawMessage.id).where(RawMessage.state == RawState.IMPORTING)
        return list(session.scalars(waiting.order_by(RawMessage.id)))


def _process(store: Store, context: Context, ids: list[int], mail: bool) -> list[str]:
    outcomes: list[str] = []
    for first in range(0, len(ids), BATCH):
        outcomes += process_imported(store, context, ids[first : first + BATCH], mail)
    return outcomes
