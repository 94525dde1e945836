"""Processing, apart from intake: each stored raw message goes through parse → identify → thread
→ route → act (gateway/processing/stages.py), in batches of one transaction each.

Outcomes are decided here, in one place: a message the parser cannot read, or one that makes a
stage fail, is quarantined with its reason and traceback and kept for `gatewayd replay`; a
storage fault is temporary and the message stays `new` for the next round.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.delivery import outbox, sender
from gateway.logs import log_event
from gateway.processing import tickets
from gateway.processing.context import Context
from gateway.processing.stages import _HOUR, ROBOT_KINDS, process_raw
from gateway.processing.triage_model import mail_text
from gateway.runtime.parse_ahead import Parsed
from gateway.store import outbox as outbox_rows
from gateway.store import raw_messages
from gateway.store.batch import Batch, writing
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.models import RawMessage, RawState, TicketStatus, utcnow
from parsers.message import ParsedMessage, Unparseable
from routing.intents import Triage

log = logging.getLogger("gateway.processor")


def process_pending(
    store: Store,
    context: Context,
    limit: int = 50,
    ahead: Parsed | None = None,
    on_picked: Callable[[Sequence[int]], None] = lambda ids: None,
    observe: Callable[[str, float], None] = lambda outcome, seconds: None,
) -> int:
    """Process up to `limit` new messages in one transaction; returns how many were handled.

    `ahead`: the batch the parser stage chose and parsed (gateway/runtime/parse_ahead.py); without
    it, the first new messages. `on_picked` hears the batch's ids once they are taken, before they
    are processed. `observe` hears each message's outcome and its seconds since it was stored,
    once the batch is committed. The batch ends early when intake waits for the write lock, so
    a 250 never waits long.
    """

    def new_messages(session: Session) -> Sequence[int]:
        ids = raw_messages.take_new(session, limit, ahead.ids if ahead is not None else None)
        on_picked(ids)
        return ids

    parsed = ahead.messages if ahead else {}
    triaged = ahead.triaged if ahead else {}
    selection = _Selection(new_messages, (RawState.NEW,), store.should_yield, parsed, triaged)
    outcomes = _process(store, context, selection)
    now = utcnow()
    for outcome in outcomes:
        seconds = (now - outcome.received_at).total_seconds() if outcome.received_at else 0.0
        observe(outcome.kind, seconds)
    return len(outcomes)


def process_again(store: Store, context: Context, ids: list[int], states: tuple[str, ...]) -> int:
    """`gatewayd replay`: process the given messages again if they are still in `states`."""
    return len(_process(store, context, _Selection(lambda session: ids, states, lambda: False)))


def process_imported(store: Store, context: Context, ids: list[int], mail: bool) -> list[str]:
    """`gatewayd import`: process messages it stored as `importing`; their outcomes. With
    `mail=False` (archive mode) nothing is queued for anyone, the tickets they open are closed
    (the past is on record, and no reminder falls due for it), and a follow-up changes no
    ticket's status."""
    quiet = replace(context, mail=mail)
    selection = _Selection(lambda session: ids, (RawState.IMPORTING,), lambda: False)
    return [outcome.kind for outcome in _process(store, quiet, selection)]


@dataclass(frozen=True)
class _Selection:
    """Which messages a batch takes, and what the parser stage already made of them."""

    pick: Callable[[Session], Sequence[int]]
    states: tuple[str, ...]  # a message picked but no longer in one of these is left alone
    should_yield: Callable[[], bool]
    parsed: dict[int, ParsedMessage | Unparseable] = field(default_factory=dict)
    triaged: dict[int, Triage] = field(default_factory=dict)  # by the parser stage


@dataclass(frozen=True)
class _Outcome:
    """What became of one message, logged once its batch is committed."""

    event: str
    level: int
    fields: dict[str, Any]
    kind: str  # one of OUTCOMES (gateway/processing/stages.py)
    received_at: datetime | None  # when the message was stored


class _TryCarefully(Exception):
    """A message failed in a batch run without savepoints."""


def _process(store: Store, context: Context, selection: _Selection) -> list[_Outcome]:
    """One transaction for the batch. Quarantining a message that fails mid-way needs a
    savepoint around each message, and savepoints cost a third of the processing of a small
    mail; so a batch runs without them, and only when one of its messages fails is it rolled
    back and run again with them. Nothing leaves the transaction before it commits: the outbox
    is in it, and the outcomes are logged after it."""
    try:
        outcomes = _run(store, context, selection, careful=False)
    except _TryCarefully:
        outcomes = _run(store, context, selection, careful=True)
    for outcome in outcomes:
        log_event(log, outcome.event, level=outcome.level, **outcome.fields)
    return outcomes


def _run(store: Store, context: Context, selection: _Selection, careful: bool) -> list[_Outcome]:
    outcomes = []
    with (
        store.session() as session,
        writing(session) as batch,
        outbox.queueing(batch, context.mail),
    ):
        ids = selection.pick(session)
        parsed_ahead = raw_messages.load_many(
            batch, [raw_id for raw_id in ids if raw_id in selection.parsed]
        )
        _count_acknowledgements_ahead(batch, [selection.parsed[raw_id] for raw_id in parsed_ahead])
        untriaged = {i: selection.parsed[i] for i in parsed_ahead if i not in selection.triaged}
        triaged = {**selection.triaged, **_triage_ahead(context, untriaged)}
        for raw_id in ids:
            raw = parsed_ahead.pop(raw_id, None) or raw_messages.load(batch, raw_id)
            if raw.state in selection.states:  # another process may have taken it meanwhile
                parsed = selection.parsed.get(raw_id)
                triage = triaged.get(raw_id)
                outcomes.append(_process_contained(batch, raw, context, careful, parsed, triage))
            if selection.should_yield():
                break
    return outcomes


def _count_acknowledgements_ahead(
    batch: Batch, parsed: Sequence[ParsedMessage | Unparseable]
) -> None:
    """Each new ticket's acknowledgement asks how many its requester got this hour: for the
    senders of the messages parsed ahead, that is counted once for the batch."""
    senders = [message.from_addr for message in parsed if isinstance(message, ParsedMessage)]
    keys = [sender.acknowledgement_rate_key(address) for address in senders if address]
    outbox_rows.count_ahead(batch, keys, _HOUR)


def _triage_ahead(
    context: Context, parsed: dict[int, ParsedMessage | Unparseable]
) -> dict[int, Triage]:
    """The batch's mails that may open tickets, classified at once: one matrix product costs
    less than a classification per mail."""
    wanted = {
        raw_id: message
        for raw_id, message in parsed.items()
        if isinstance(message, ParsedMessage) and message.kind not in ROBOT_KINDS
    }
    if not wanted or not context.triages:
        return {}
    results = context.triager.classify_many([mail_text(m) for m in wanted.values()], False)
    return dict(zip(wanted, results, strict=True))


def _process_contained(
    batch: Batch,
    raw: RawMessage,
    context: Context,
    careful: bool,
    parsed: ParsedMessage | Unparseable | None,
    triage: Triage | None = None,
) -> _Outcome:
    since = batch.mark()
    try:
        with batch.session.begin_nested() if careful else nullcontext():
            handled = process_raw(batch, raw, context, parsed, triage)
            if not context.mail and handled.kind == "ticket" and handled.ticket is not None:
                tickets.set_status(batch, handled.ticket, TicketStatus.CLOSED, "imported")
    except (StorageUnavailable, OperationalError):
        raise  # the database, not the message: the whole batch is tried again later
    except Exception as exc:  # bad input or a bug: keep the message, keep the daemon running
        if not careful:
            raise _TryCarefully from exc
        batch.take_back(since)  # the savepoint took back what was written
        if isinstance(exc, Unparseable):
            return _quarantine(batch, raw, str(exc))
        return _quarantine(batch, raw, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    raw_messages.mark_done(batch, raw.id)
    fields = {"raw": raw.id, "outcome": handled.text}
    return _Outcome("message.processed", logging.INFO, fields, handled.kind, raw.received_at)


def _quarantine(batch: Batch, raw: RawMessage, reason: str) -> _Outcome:
    raw_messages.quarantine(batch, raw.id, reason)
    fields = {"raw": raw.id, "reason": reason.splitlines()[0]}
    return _Outcome("message.quarantined", logging.WARNING, fields, "quarantined", raw.received_at)
