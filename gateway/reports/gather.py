"""The facts of a month per customer, read from the database for gateway/reports/statement.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.processing import sla_state, time_entries
from gateway.reports.statement import ClockOutcome, CustomerFacts, Month, TicketRecord
from gateway.store.models import Event, Ticket, TicketStatus
from routing.directory import Customer
from routing.plans import Plan
from routing.sla import Clock, TicketFacts


def customer_facts(
    session: Session,
    customer: Customer,
    plan: Plan,
    month: Month,
    now: datetime,
    microsoft_address: str | None,
) -> CustomerFacts:
    start, end = time_entries.month_bounds(month, plan)
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.customer_id == customer.id, Ticket.created_at < end)
        .where(or_(Ticket.status != TicketStatus.CLOSED, Ticket.updated_at >= start))
        .order_by(Ticket.number)
    ).all()
    events = _events(session, tickets)
    opened = tuple(
        TicketRecord(t.number, t.subject, t.created_at, _route(t, events, microsoft_address))
        for t in tickets
        if start <= t.created_at < end
    )
    closed = tuple(
        (t.number, at)
        for t in tickets
        for what, at, detail in events.get(t.id, [])
        if what == "status" and detail.get("new") == TicketStatus.CLOSED and start <= at < end
    )
    return CustomerFacts(
        customer=customer.id,
        name=customer.name,
        plan=plan,
        opened=opened,
        closed=closed,
        outcomes=tuple(_outcomes(session, tickets, plan, start, end, now)),
        time=tuple(time_entries.entries(session, customer.id, start, end)),
        prepaid_left_before=time_entries.prepaid_left_before(session, customer.id, plan, month),
    )


def _events(
    session: Session, tickets: Sequence[Ticket]
) -> dict[int, list[tuple[str, datetime, dict[str, object]]]]:
    found: dict[int, list[tuple[str, datetime, dict[str, object]]]] = {}
    ids = [t.id for t in tickets]
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Event.ticket_id, Event.what, Event.at, Event.detail)
            .where(
                Event.ticket_id.in_(ids[start : start + 500]),
                Event.what.in_(("status", "escalated", "forwarded")),
            )
            .order_by(Event.id)
        )
        for ticket_id, what, at, detail in rows:
            found.setdefault(ticket_id, []).append((what, at, detail))
    return found


def _route(
    ticket: Ticket,
    events: dict[int, list[tuple[str, datetime, dict[str, object]]]],
    microsoft_address: str | None,
) -> str:
    """Where the ticket went: the last hand-over decides, else the route it was given."""
    handovers = [(w, d) for w, _, d in events.get(ticket.id, []) if w != "status"]
    if handovers:
        what, detail = handovers[-1]
        to_microsoft = what == "escalated" and detail.get("to") == microsoft_address
        return "microsoft" if to_microsoft else "provider"
    if ticket.route_action == "escalate":
        return "microsoft" if ticket.route_target == "microsoft" else "provider"
    if ticket.route_action == "forward":
        return "provider"
    return "sales" if ticket.queue == "sales" else "handled"


def _outcomes(
    session: Session,
    tickets: Sequence[Ticket],
    plan: Plan,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[ClockOutcome]:
    facts = sla_state.facts_of(session, tickets)
    found = []
    for ticket in tickets:
        sla = sla_state.sla_of(plan, facts[ticket.id], now)
        stops = {
            "first_response": _first_stop(facts[ticket.id]),
            "resolution": facts[ticket.id].closed,
        }
        for name, state in (("first_response", sla.first_response), ("resolution", sla.resolution)):
            outcome = _outcome(ticket.number, name, state, stops[name])
            if outcome and start <= outcome.at < end:
                found.append(outcome)
    return found


def _first_stop(facts: TicketFacts) -> datetime | None:
    stops = [at for at in (facts.first_answer, facts.closed) if at is not None]
    return min(stops, default=None)


def _outcome(
    number: int, name: str, state: Clock | None, stopped: datetime | None
) -> ClockOutcome | None:
    """Met when it stopped in time (counted at the stop); breached at its due time."""
    if state is None:
        return None
    if state.met and stopped is not None:
        return ClockOutcome(number, name, True, stopped)
    if state.breached:
        return ClockOutcome(number, name, False, state.due)
    return None


def month_facts(
    session: Session,
    customers: Sequence[tuple[Customer, Plan]],
    month: Month,
    now: datetime,
    microsoft_address: str | None,
) -> list[CustomerFacts]:
    return [
        customer_facts(session, customer, plan, month, now, microsoft_address)
        for customer, plan in customers
    ]
