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
- **Followed.** Every `microsoft.poll` the open requests are read; a status change and
  Microsoft's new notes become upstream messages on the ticket for its agents only, and move
  the ticket as an upstream reply does (routing/service_requests.py decides).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.config import Config
from gateway.delivery import outbox, sender
from gateway.delivery.templates import Templates
from gateway.logs import log_event
from gateway.microsoft.api import ApiError, PermanentApiError, SignInRefused
from gateway.microsoft.partner_center import PartnerCenter, ServiceRequest
from gateway.processing import tickets
from gateway.processing.identity import agents_to_notify
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import (
    ServiceRequestNote,
    ServiceRequestRow,
    ServiceRequestState,
    Ticket,
    TicketStatus,
    utcnow,
)
from parsers.message import ParsedMessage
from routing.service_requests import Draft, RequestNote, fingerprint, news, retry_delay

log = logging.getLogger("gateway.delivery.service_requests")
Row = TypeVar("Row", ServiceRequestRow, ServiceRequestNote)
NOTE_FOLLOWS = timedelta(seconds=1)  # a note looks again this long after its request's next try

# Told to the admin-agents (gateway/delivery/notices.py limits each problem to once an hour).
Tell = Callable[[str, str, str], object]


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


def for_ticket(session: Session, ticket_id: int) -> ServiceRequestRow | None:
    """The ticket's latest service request, if it has one."""
    return session.scalar(
        select(ServiceRequestRow)
        .where(ServiceRequestRow.ticket_id == ticket_id)
        .order_by(ServiceRequestRow.id.desc())
        .limit(1)
    )


def queue_note(batch: Batch, ticket: Ticket, agent: str, text: str) -> bool:
    """An agent's #upstream note, added to the ticket's service request from the queue; False
    when the ticket has none to add it to."""
    session = batch.session
    row = for_ticket(session, ticket.id)
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


def as_json(session: Session, ticket_id: int) -> dict[str, str | None] | None:
    """`tickets show --json`'s "service_request": {"id", "status"}, or None."""
    row = for_ticket(session, ticket_id)
    if row is None:
        return None
    return {"id": row.request_id, "status": row.status or str(row.state)}


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
    for row_id in _due(store, ServiceRequestRow, limit):
        made += _create_one(store, config, templates, partner_center, tell, row_id)
    for note_id in _due(store, ServiceRequestNote, limit):
        made += _add_one_note(store, config, partner_center, tell, note_id)
    return made


def _due(
    store: Store, model: type[ServiceRequestRow] | type[ServiceRequestNote], limit: int
) -> list[int]:
    with store.reader() as session:
        return list(
            session.scalars(
                select(model.id)
                .where(
                    model.state == ServiceRequestState.PENDING,
                    model.next_attempt_at <= utcnow(),
                )
                .order_by(model.next_attempt_at, model.id)
                .limit(limit)
            )
        )


@dataclass(frozen=True)
class _Pending:
    """What a call needs of a queued row, read before the call: no write transaction is open
    while Partner Center is asked (on SQLite it would hold the database's write lock)."""

    id: int
    tag: str
    attempts: int
    body: dict[str, str]


def _claimed(session: Session, model: type[Row], row_id: int, lock: bool) -> Row | None:
    """The row if it is still pending; on PostgreSQL locked for this daemon's call."""
    statement = select(model).where(model.id == row_id, model.state == ServiceRequestState.PENDING)
    return session.scalar(statement.with_for_update(skip_locked=True) if lock else statement)


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
            row = _claimed(session, ServiceRequestRow, row_id, lock=True)
            if row is None:
                return 0
            outcome = _call_create(partner_center, _pending(row))
            _record_create(session, config, templates, row, outcome, told)
    else:  # one daemon per SQLite file: ask first, then record in a short transaction
        with store.reader() as session:
            row = _claimed(session, ServiceRequestRow, row_id, lock=False)
            pending = _pending(row) if row is not None else None
        if pending is None:
            return 0
        outcome = _call_create(partner_center, pending)
        with store.session() as session:
            row = _claimed(session, ServiceRequestRow, row_id, lock=False)
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
    waiting = select(ServiceRequestNote).where(
        ServiceRequestNote.service_request_id == row.id,
        ServiceRequestNote.state == ServiceRequestState.PENDING,
    )
    for note in session.scalars(waiting):  # #upstream notes have nowhere to go now
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


# --- notes (#upstream) ----------------------------------------------------------------------


def _add_one_note(
    store: Store, config: Config, partner_center: PartnerCenter, tell: Tell, note_id: int
) -> int:
    """As a create: no write transaction open during the call; on PostgreSQL the row locked."""
    told: list[tuple[str, str, str]] = []
    lock = store.dialect == "postgresql"
    if lock:
        with store.session() as session:
            made = _note_call(session, config, partner_center, note_id, True, told)
    else:
        with store.reader() as session:
            note = _claimed(session, ServiceRequestNote, note_id, lock=False)
            row = session.get(ServiceRequestRow, note.service_request_id) if note else None
            call = (note.text, row.request_id) if note and row and row.request_id else None
        if call is None:
            with store.session() as session:
                return _note_waits(session, note_id)
        error = _add_note(partner_center, call[1], call[0])
        with store.session() as session:
            made = _note_record(session, config, note_id, error, told)
    for problem, subject, text in told:
        tell(problem, subject, text)
    return made


def _add_note(partner_center: PartnerCenter, request_id: str, text: str) -> ApiError | None:
    try:
        partner_center.add_note(request_id, text)
    except ApiError as exc:
        return exc
    return None


def _note_waits(session: Session, note_id: int) -> int:
    """A note for a request not created yet follows the request; one whose request went by
    e-mail instead has nowhere to go (the agents see why on the ticket)."""
    note = _claimed(session, ServiceRequestNote, note_id, lock=False)
    if note is None:
        return 0
    row = session.get_one(ServiceRequestRow, note.service_request_id)
    if row.state == ServiceRequestState.PENDING:
        note.next_attempt_at = max(row.next_attempt_at, utcnow()) + NOTE_FOLLOWS
        return 0
    note.state = ServiceRequestState.FAILED
    ticket = session.get_one(Ticket, row.ticket_id)
    reason = "the escalation went by e-mail: reply to Microsoft's mail instead"
    tickets.add_event(Batch.immediate(session), ticket, "upstream_note_failed", error=reason)
    return 1


def _note_call(
    session: Session,
    config: Config,
    partner_center: PartnerCenter,
    note_id: int,
    lock: bool,
    told: list[tuple[str, str, str]],
) -> int:
    note = _claimed(session, ServiceRequestNote, note_id, lock=lock)
    if note is None:
        return 0
    row = session.get_one(ServiceRequestRow, note.service_request_id)
    if row.request_id is None:
        return _note_waits(session, note_id)
    error = _add_note(partner_center, row.request_id, note.text)
    return _note_record(session, config, note_id, error, told)


def _note_record(
    session: Session,
    config: Config,
    note_id: int,
    error: ApiError | None,
    told: list[tuple[str, str, str]],
) -> int:
    batch = Batch.immediate(session)  # its rows written at once
    note = _claimed(session, ServiceRequestNote, note_id, lock=False)
    if note is None:
        return 0
    row = session.get_one(ServiceRequestRow, note.service_request_id)
    ticket = session.get_one(Ticket, row.ticket_id)
    note.attempts += 1
    if error is None:
        note.state = ServiceRequestState.CLOSED  # added
        tickets.add_event(
            batch,
            ticket,
            "upstream_note",
            request=row.request_id,
            agent=note.agent,
        )
        return 1
    note.last_error = str(error)[:2000]
    given_up = utcnow() - note.created_at >= config.microsoft.give_up_after
    if isinstance(error, PermanentApiError) or given_up:
        note.state = ServiceRequestState.FAILED
        tickets.add_event(batch, ticket, "upstream_note_failed", error=str(error)[:500])
        told.append(
            (
                f"upstream-note-failed:{note.id}",
                "a note could not be added to a service request",
                f"gatewayd could not add {note.agent}'s note to service request "
                f"{row.request_id}.\n\nLast error: {error}",
            )
        )
    else:
        note.next_attempt_at = utcnow() + retry_delay(
            note.attempts, config.microsoft.retry_initial, config.microsoft.retry_max
        )
    return 1


# --- following ------------------------------------------------------------------------------


def _log_poll_failure(what: str, error: str) -> None:
    log_event(log, "service_request.poll_failed", level=logging.WARNING, what=what, error=error)


def poll_open(
    store: Store,
    config: Config,
    templates: Templates,
    partner_center: PartnerCenter,
    failed: Callable[[str, str], None] = _log_poll_failure,
    recovered: Callable[[str], None] = lambda what: None,
) -> int:
    """Read every open service request; how many brought news for the agents. A request that
    cannot be read is tried again at the next poll; Partner Center out of reach is one
    problem, not one per request (`failed`)."""
    with store.reader() as session:
        open_ids = list(
            session.scalars(
                select(ServiceRequestRow.id).where(
                    ServiceRequestRow.state == ServiceRequestState.OPEN
                )
            )
        )
    told = 0
    for row_id in open_ids:
        with store.reader() as session:
            request_id = session.get_one(ServiceRequestRow, row_id).request_id
        try:
            current = partner_center.get(str(request_id))
        except SignInRefused:
            raise
        except PermanentApiError as exc:  # this one (gone, say): the others are still read
            failed(f"service-request:{request_id}", str(exc))
            continue
        except ApiError as exc:
            failed("service-requests", str(exc))
            return told  # Partner Center out of reach: the others would fail alike
        recovered("service-requests")
        with store.session() as session:
            told += _follow(session, config, templates, row_id, current)
    return told


def _follow(
    session: Session, config: Config, templates: Templates, row_id: int, current: ServiceRequest
) -> int:
    batch = Batch.immediate(session)  # its rows written at once
    row = session.get_one(ServiceRequestRow, row_id)
    notes = [RequestNote(n.by, n.at, n.text) for n in current.notes]
    found = news(current.id, row.status, current.status, notes, row.notes_seen, set(row.our_notes))
    row.status, row.notes_seen, row.polled_at = current.status, len(notes), utcnow()
    if current.status == "closed":
        row.state = ServiceRequestState.CLOSED
    if not found.texts:
        return 0
    ticket = session.get_one(Ticket, row.ticket_id)
    for text in found.texts:
        _upstream_message(session, config, templates, ticket, current, text)
    wanted = found.progress.ticket_status
    if wanted == TicketStatus.OPEN and ticket.status == TicketStatus.WAITING_UPSTREAM:
        tickets.set_status(batch, ticket, TicketStatus.OPEN, "Microsoft wrote")
    tickets.add_event(batch, ticket, "service_request", id=current.id, status=current.status)
    return 1


MICROSOFT = "Microsoft (Partner Center)"


def _upstream_message(
    session: Session,
    config: Config,
    templates: Templates,
    ticket: Ticket,
    current: ServiceRequest,
    text: str,
) -> None:
    """On the ticket as an upstream message, and to the ticket's agents only: never to the
    customer (the agents decide what the customer is told)."""
    batch = Batch.immediate(session)  # its rows written at once
    subject = f"Service request {current.id}: {current.title}"
    tickets.add_message(
        batch,
        ticket,
        direction="in",
        kind="upstream",
        from_addr=MICROSOFT,
        to=[config.partner.address],
        subject=subject,
        message_id=None,
        text=text,
    )
    message = ParsedMessage(
        from_addr=MICROSOFT,
        from_name="Microsoft",
        to=(config.partner.address,),
        cc=(),
        reply_to=(),
        subject=subject,
        message_id=None,
        in_reply_to=None,
        references=(),
        date=utcnow(),
        kind="normal",
        text=text,
        full_text=text,
    )
    customer = config.customer(ticket.customer_id)
    agents = agents_to_notify(ticket.customer_id, ticket.queue, config)
    unserved = not agents
    if unserved:  # as processor._notify_agents: the admin-agents hear of it instead
        agents = [agent for agent in config.agents if "admin-agent" in agent.roles]
    for agent in agents:
        mail = sender.agent_notification(
            config, templates, ticket, message, customer, agent, followup=True, unserved=unserved
        )
        outbox.send_for_ticket(batch, ticket, mail)
    if agents:
        tickets.add_event(batch, ticket, "notified", agents=[a.address for a in agents])


def due_soon(store: Store) -> datetime | None:
    """When the next queued call falls due (for the worker's wait), or None."""
    with store.reader() as session:
        return session.scalar(
            select(ServiceRequestRow.next_attempt_at)
            .where(ServiceRequestRow.state == ServiceRequestState.PENDING)
            .order_by(ServiceRequestRow.next_attempt_at)
            .limit(1)
        )
