"""The agents' #upstream notes (gateway/commands/upstream.py queues them), added to the ticket's
Partner Center service request from the queue, as the requests themselves are created
(gateway/delivery/service_requests.py): no write transaction open during the call, retried with
backoff, given up on after `microsoft.give_up_after`, and on PostgreSQL the row locked so that two
daemons never add one note twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session

from gateway.config import Config
from gateway.microsoft.api import ApiError, PermanentApiError
from gateway.microsoft.partner_center import PartnerCenter
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
from routing.service_requests import retry_delay

NOTE_FOLLOWS = timedelta(seconds=1)  # a note looks again this long after its request's next try

# Told to the admin-agents (gateway/delivery/notices.py limits each problem to once an hour).
Tell = Callable[[str, str, str], object]


def add_one(
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
            note = queue.claimed(session, ServiceRequestNote, note_id, lock=False)
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
    note = queue.claimed(session, ServiceRequestNote, note_id, lock=False)
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
    note = queue.claimed(session, ServiceRequestNote, note_id, lock=lock)
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
    note = queue.claimed(session, ServiceRequestNote, note_id, lock=False)
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
