"""Tickets, their messages and events: creation, changes, and the JSON that admins read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, make_transient_to_detached

from gateway.delivery.wire import sendable
from gateway.store import service_requests
from gateway.store.batch import Batch
from gateway.store.counters import next_ticket_number
from gateway.store.models import (
    Event,
    Ticket,
    TicketMessage,
    TicketStatus,
    TimeEntry,
    utcnow,
)
from routing import Decision

if TYPE_CHECKING:  # the parsers are not needed to show a ticket (`gatewayd tickets`)
    from parsers.message import ParsedMessage

STATUSES = tuple(TicketStatus)

# Core statements, built once: processing inserts many small rows, and the ORM's unit of work
# (and statements built per call) cost many times the inserts themselves.
_TICKETS = Ticket.__table__
_TICKET_COLUMNS = [column.key for column in _TICKETS.columns if column.key != "id"]
_INSERT_TICKET = insert(_TICKETS).returning(_TICKETS.c.id)
_INSERT_MESSAGE = insert(TicketMessage.__table__)
_INSERT_EVENT = insert(Event.__table__)


def open_ticket(
    batch: Batch, subject: str, requester: str, customer_id: str | None, decision: Decision
) -> Ticket:
    now = utcnow()
    ticket = Ticket(
        number=next_ticket_number(batch),
        subject=subject,
        status=TicketStatus.NEW,
        customer_id=customer_id,
        requester=requester,
        queue=decision.queue,
        priority=decision.priority,
        route_action=decision.action,
        route_target=decision.target,
        route_rule=decision.rule,
        created_at=now,
        updated_at=now,
    )
    values = {column: getattr(ticket, column) for column in _TICKET_COLUMNS}
    ticket.id = batch.session.connection().execute(_INSERT_TICKET, values).scalar_one()
    # Attached as if loaded, without reading back the row just written: later changes are saved.
    make_transient_to_detached(ticket)
    batch.session.add(ticket)
    return ticket


def add_message(
    batch: Batch,
    ticket: Ticket,
    *,
    direction: str,
    kind: str,
    from_addr: str,
    to: Sequence[str],
    subject: str,
    message_id: str | None,
    text: str,
    date: datetime | None = None,
    raw_message_id: int | None = None,
) -> None:
    values = {
        "ticket_id": ticket.id,
        "raw_message_id": raw_message_id,
        "direction": direction,
        "kind": kind,
        "from_addr": from_addr,
        "to_addrs": list(to),
        "subject": subject,
        "message_id": message_id,
        "date": date or utcnow(),
        "text": text,
    }
    batch.add(_INSERT_MESSAGE, values)
    _touch(ticket)


# A ticket's last activity is kept to the second: its first messages follow its creation within
# microseconds, and saving each such change cost an UPDATE of every new ticket.
_TOUCH_RESOLUTION = timedelta(seconds=1)


def _touch(ticket: Ticket) -> None:
    now = utcnow()
    if now - ticket.updated_at >= _TOUCH_RESOLUTION:
        ticket.updated_at = now


def record_incoming(
    batch: Batch,
    ticket: Ticket,
    message: ParsedMessage,
    kind: str,
    raw_message_id: int,
    text: str | None = None,
) -> None:
    """An incoming mail on the ticket, with its new text (or `text`, e.g. without commands)."""
    add_message(
        batch,
        ticket,
        direction="in",
        kind=kind,
        from_addr=message.from_addr,
        to=[*message.to, *message.cc],
        subject=message.subject,
        message_id=message.message_id,
        text=_with_forwarded(message) if text is None else text,
        date=message.date,
        raw_message_id=raw_message_id,
    )


def _with_forwarded(message: ParsedMessage) -> str:
    """The new text, and below it the mail it forwards: for a forwarded request that mail is
    what the ticket is about."""
    forwarded = message.forwarded
    if forwarded is None:
        return message.text
    head = (
        "---------- Forwarded message ----------\n"
        f"From: {forwarded.from_addr or forwarded.from_name}\n"
        f"Date: {forwarded.date}\nSubject: {forwarded.subject}"
    )
    return "\n\n".join(part for part in (message.text, head, forwarded.text) if part)


def add_event(batch: Batch, ticket: Ticket, what: str, **detail: Any) -> None:
    values = {"ticket_id": ticket.id, "at": utcnow(), "what": what, "detail": detail}
    batch.add(_INSERT_EVENT, values)


def set_status(batch: Batch, ticket: Ticket, status: str, why: str) -> None:
    if ticket.status != status:
        add_event(batch, ticket, "status", old=ticket.status, new=status, why=why)
        ticket.status = status


def find_tickets(
    session: Session, status: str | None = None, customer: str | None = None
) -> Sequence[Ticket]:
    statement = select(Ticket).order_by(Ticket.number)
    if status:
        statement = statement.where(Ticket.status == status)
    if customer:
        statement = statement.where(Ticket.customer_id == customer)
    return session.scalars(statement).all()


def ticket_numbered(session: Session, number: int) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.number == number))


def ticket_json(session: Session, ticket: Ticket, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "customer": ticket.customer_id,
        "requester": ticket.requester,
        "queue": ticket.queue,
        "priority": ticket.priority,
        "assignee": ticket.assignee,
        "route": {
            "action": ticket.route_action,
            "target": ticket.route_target,
            "rule": ticket.route_rule,
        },
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
    }
    if full:
        events = _events(session, ticket)
        data["cases"] = _case_numbers(events)
        data["service_request"] = _service_request(session, ticket)
        data["messages"] = [_message_json(m) for m in _messages(session, ticket)]
        data["events"] = [{"at": e.at.isoformat(), "what": e.what, **e.detail} for e in events]
        data["time"] = [_time_json(entry) for entry in _time_entries(session, ticket)]
    return data


def _time_entries(session: Session, ticket: Ticket) -> Sequence[TimeEntry]:
    statement = select(TimeEntry).where(TimeEntry.ticket_id == ticket.id)
    return session.scalars(statement.order_by(TimeEntry.at, TimeEntry.id)).all()


def _time_json(entry: TimeEntry) -> dict[str, Any]:
    return {
        "agent": entry.agent,
        "minutes": entry.minutes,
        "billable": entry.billable,
        "note": entry.note,
        "at": entry.at.isoformat(),
    }


def _service_request(session: Session, ticket: Ticket) -> dict[str, str | None] | None:
    """`tickets show --json`'s "service_request": {"id", "status"}, or None."""
    row = service_requests.for_ticket(session, ticket.id)
    if row is None:
        return None
    return {"id": row.request_id, "status": row.status or str(row.state)}


def keep_case_numbers(batch: Batch, ticket: Ticket, numbers: Sequence[str]) -> None:
    """Upstream case numbers (TrackingID#…, Case …) seen for the first time on this ticket."""
    known = _case_numbers(_events(batch, ticket))
    for number in numbers:
        if number not in known:
            add_event(batch, ticket, "case_number", number=number)
            known.append(number)


def _case_numbers(events: Sequence[Event]) -> list[str]:
    return [str(e.detail["number"]) for e in events if e.what == "case_number"]


def _messages(reader: Session | Batch, ticket: Ticket) -> Sequence[TicketMessage]:
    statement = select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
    return reader.scalars(statement.order_by(TicketMessage.id)).all()


def _events(reader: Session | Batch, ticket: Ticket) -> Sequence[Event]:
    """A batch's reader writes its rows first: the events just added are among them."""
    return reader.scalars(
        select(Event).where(Event.ticket_id == ticket.id).order_by(Event.id)
    ).all()


def _message_json(entry: TicketMessage) -> dict[str, Any]:
    return {
        "direction": entry.direction,
        "kind": entry.kind,
        "from": entry.from_addr,
        "to": entry.to_addrs,
        "subject": entry.subject,
        "message_id": entry.message_id,
        "date": entry.date.isoformat(),
        "text": entry.text,
    }


def unanswerable(ticket: Ticket, what: str) -> tuple[str, dict[str, str]] | None:
    """A requester that no mail can be addressed to ("From: Big Bug bb@bug.com" without angle
    brackets, an address that needs SMTPUTF8) gets no automatic mail; the ticket stays, and
    its events say why: the event to note, or None when the requester can be answered."""
    if sendable(ticket.requester):
        return None
    return f"{what}_impossible", {"reason": "address cannot be answered"}


def requester_answerable(batch: Batch, ticket: Ticket, what: str) -> bool:
    note = unanswerable(ticket, what)
    if note is not None:
        add_event(batch, ticket, note[0], **note[1])
    return note is None
