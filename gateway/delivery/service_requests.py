"""Escalations as Partner Center service requests: queued durably like outgoing mail, created
with backoff, followed until Microsoft closes them, and the agents' notes (#upstream) added.

- **Never lost.** An escalation writes its request into `service_requests` in the ticket's own
  transaction; the call to Partner Center happens afterwards, from the queue, and is retried
  with backoff (`microsoft.retry_initial` doubling to `microsoft.retry_max`) on a temporary
  fault. After `microsoft.give_up_after` (or at once, when Partner Center refuses the request
  itself) the ticket goes up by e-mail to `microsoft.escalation_address` as before, and the
  admin-agents are told.
- **Never twice.** A create that timed out may have been carried out: every retry first looks
  for a service request whose title begins with the ticket's tag, and takes it if there is one.
  On PostgreSQL a row is claimed FOR UPDATE SKIP LOCKED for its call, so two daemons never
  send one request.
- **Followed.** Every `microsoft.poll` the open requests are read
  (gateway/delivery/service_request_news.py); the agents' #upstream notes are added from the
  queue too (gateway/delivery/upstream_notes.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.config import Config
from gateway.delivery import sender, upstream_notes
from gateway.delivery.templates import Templates
from gateway.delivery.upstream_notes import Tell
from gateway.logs import log_event
from gateway.microsoft.api import ApiError, PermanentApiError, SignInRefused
from gateway.microsoft.partner_center import PartnerCenter, ServiceRequest
from gateway.processing import tickets
from gateway.store import service_requests as queue
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import (
    ServiceRequestNote,
    ServiceRequestRow,
    ServiceRequestState,
    Ticket,
    utcnow,
)
from routing.service_requests import Draft, fingerprint, retry_delay

log = logging.getLogger("gateway.delivery.service_requests")


def enqueue(batch: Batch, ticket: Ticket, tag: str, draft: Draft, category: str) -> None:
    """Queue the service request of an escalation, in the ticket's transaction."""
    now = utcnow()
    batch.session.add(
        ServiceRequestRow(
            ticket_id=ticket.id,
            state=ServiceRequestState.PENDING,
            tag=tag,
            title=draft.title,
            description=draft.description,
            severity=draft.severity,
            support_topic_id=draft.support_topic_id or "",
            category=category,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            notes_seen=0,
            our_notes=[],
        )
    )


def queue_note(batch: Batch, ticket: Ticket, agent: str, text: str) -> bool:
    """An agent's #upstream note, added to the ticket's service request from the queue; False
    when the ticket has none to add it to."""
    session = batch.session
    row = queue.for_ticket(session, ticket.id)
    if row is None or row.state not in (ServiceRequestState.PENDING, ServiceRequestState.OPEN):
        return False
    now = utcnow()
    session.add(
        ServiceRequestNote(
            service_request_id=row.id,
            agent=agent,
            text=text,
            state=ServiceRequestState.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    row.our_notes = [*row.our_notes, fingerprint(text)]
    return True


# --- creating -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    row_id: int
    created: ServiceRequest | None = None
    error: ApiError | None = None


def deliver_due(
    store: Store,
    config: Config,
    templates: Templates,
    partner_center: PartnerCenter,
    tell: Tell,
    limit: int = 20,
) -> int:
    """Create the service requests that are due, then add the notes that are due; how many
    calls were made."""
    made = 0
    for row_id in queue.due(store, ServiceRequestRow, limit):
        made += _create_one(store, config, templates, partner_center, tell, row_id)
    for note_id in queue.due(store, ServiceRequestNote, limit):
        made += upstream_notes.add_one(store, config, partner_center, tell, note_id)
    return made


@dataclass(frozen=True)
class _Pending:
    """What a call needs of a queued row, read before the call: no write transaction is open
    while Partner Center is asked (on SQLite it would hold the database's write lock)."""

    id: int
    tag: str
    attempts: int
    body: dict[str, str]


def _pending(row: ServiceRequestRow) -> _Pending:
    body = {
        "Title": row.title,
        "Description": row.description,
        "Severity": row.severity,
        "SupportTopicId": row.support_topic_id,
    }
    return _Pending(row.id, row.tag, row.attempts, body)


def _create_one(
    store: Store,
    config: Config,
    templates: Templates,
    partner_center: PartnerCenter,
    tell: Tell,
    row_id: int,
) -> int:
    told: list[tuple[str, str, str]] = []
    if store.dialect == "postgresql":
        # The row stays locked while Partner Center is asked: the other daemons skip it, and
        # a lock lost with a dead daemon frees it at once (as the outbox's rows).
        with store.session() as session:
            row = queue.claimed(session, ServiceRequestRow, row_id, lock=True)
            if row is None:
                return 0
            outcome = _call_create(partner_center, _pending(row))
            _record_create(session, config, templates, row, outcome, told)
    else:  # one daemon per SQLite file: ask first, then record in a short transaction
        with store.reader() as session:
            row = queue.claimed(session, ServiceRequestRow, row_id, lock=False)
            pending = _pending(row) if row is not None else None
        if pending is None:
            return 0
        outcome = _call_create(partner_center, pending)
        with store.session() as session:
            row = queue.claimed(session, ServiceRequestRow, row_id, lock=False)
            if row is None:
                return 0
            _record_create(session, config, templates, row, outcome, told)
    for problem, subject, text in told:  # after the commit: a notice is a transaction of its own
        tell(problem, subject, text)
    return 1


def _call_create(partner_center: PartnerCenter, pending: _Pending) -> Outcome:
    try:
        if pending.attempts:  # an earlier try may have reached Microsoft before it failed
            found = partner_center.find(pending.tag)
            if found is not None:
                log_event(log, "service_request.found", id=pending.id, request=found.id)
                return Outcome(pending.id, created=found)
        return Outcome(pending.id, created=partner_center.create(pending.body))
    except ApiError as exc:
        return Outcome(pending.id, error=exc)


def _record_create(
    session: Session,
    config: Config,
    templates: Templates,
    row: ServiceRequestRow,
    outcome: Outcome,
    told: list[tuple[str, str, str]],
) -> None:
    batch = Batch.immediate(session)  # its rows written at once
    ticket = session.get_one(Ticket, row.ticket_id)
    row.attempts += 1
    if outcome.created is not None:
        created = outcome.created
        row.state, row.request_id, row.status = ServiceRequestState.OPEN, created.id, created.status
        row.notes_seen, row.last_error, row.polled_at = len(created.notes), None, utcnow()
        tickets.keep_case_numbers(batch, ticket, [created.id])
        tickets.add_event(
            batch,
            ticket,
            "service_request",
            id=created.id,
            status=created.status,
        )
        log_event(
            log, "service_request.created", id=row.id, request=created.id, ticket=ticket.number
        )
        return
    error = outcome.error
    assert error is not None
    row.last_error = str(error)[:2000]
    now = utcnow()
    if isinstance(error, SignInRefused):
        told.append(
            ("microsoft-sign-in", "the Partner Center sign-in was refused", _refused_text(error))
        )
    given_up = now - row.created_at >= config.microsoft.give_up_after
    if isinstance(error, PermanentApiError) or given_up:
        told.append(_fall_back(session, config, templates, row, ticket, error))
        return
    row.next_attempt_at = now + retry_delay(
        row.attempts, config.microsoft.retry_initial, config.microsoft.retry_max
    )
    log_event(
        log,
        "service_request.retry",
        level=logging.WARNING,
        id=row.id,
        attempts=row.attempts,
        next_attempt=row.next_attempt_at.isoformat(timespec="seconds"),
        error=str(error),
    )


def _refused_text(error: ApiError) -> str:
    return (
        f"Partner Center refused gatewayd's sign-in: {error}\n\n"
        "Escalations wait in the queue (and go by e-mail after microsoft.give_up_after). "
        "Run `gatewayd microsoft login` on the gateway's host to sign in again."
    )


def _fall_back(
    session: Session,
    config: Config,
    templates: Templates,
    row: ServiceRequestRow,
    ticket: Ticket,
    error: ApiError,
) -> tuple[str, str, str]:
    """The e-mail escalation of before, in the same transaction as giving up: exactly once.
    Returns the notice for the admin-agents."""
    batch = Batch.immediate(session)  # its rows written at once
    from gateway.processing.handovers import mail_handover

    row.state = ServiceRequestState.FALLBACK
    for note in queue.pending_notes(session, row.id):  # #upstream notes have nowhere to go now
        note.state = ServiceRequestState.FAILED
        reason = "the escalation went by e-mail: reply to Microsoft's mail instead"
        tickets.add_event(batch, ticket, "upstream_note_failed", error=reason)
    log_event(log, "service_request.fallback", level=logging.ERROR, id=row.id, error=str(error))
    to = config.microsoft.escalation_address
    if to is None:
        tickets.add_event(batch, ticket, "handover_impossible", reason="no escalation_address")
    else:
        mail_handover(batch, config, templates, ticket, to, "escalation", row.category)
    tickets.add_event(batch, ticket, "service_request_failed", error=str(error)[:500])
    tag = sender.ticket_tag(config, ticket.number)
    return (
        f"service-request-failed:{row.id}",
        f"ticket {tag} escalated by e-mail instead",
        f"gatewayd could not file the service request of ticket {tag} in Partner Center after "
        f"{row.attempts} "
        f"attempts and sent the escalation by e-mail to {to or '(no escalation_address)'}."
        f"\n\nLast error: {error}",
    )
