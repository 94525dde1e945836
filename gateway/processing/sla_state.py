"""Tickets' SLA clocks from the database: each ticket's status history, its first agent answer
that went to the customer and its close, read in a few statements for many tickets at once, and
handed to routing/sla.py with the ticket's plan. Used by `tickets show/list`, the timers, the
digest and the statements."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.store.models import Event, Ticket, TicketMessage, TicketStatus
from routing.plans import Plan
from routing.sla import Clock, TicketFacts, TicketSla, ticket_sla


def facts_of(session: Session, tickets: Sequence[Ticket]) -> dict[int, TicketFacts]:
    """The SLA facts of each ticket, by ticket id."""
    ids = [t.id for t in tickets]
    histories: dict[int, list[tuple[datetime, str]]] = {i: [] for i in ids}
    answers: dict[int, datetime] = {}
    for chunk in _chunks(ids):
        for ticket_id, at, detail in session.execute(
            select(Event.ticket_id, Event.at, Event.detail)
            .where(Event.ticket_id.in_(chunk), Event.what == "status")
            .order_by(Event.id)
        ):
            histories[ticket_id].append((at, str(detail.get("new"))))
        answers.update(
            session.execute(
                select(TicketMessage.ticket_id, func.min(TicketMessage.date))
                .where(
                    TicketMessage.ticket_id.in_(chunk),
                    TicketMessage.direction == "out",
                    TicketMessage.kind == "agent",
                )
                .group_by(TicketMessage.ticket_id)
            ).all()
        )
    return {t.id: _facts(t, histories[t.id], answers.get(t.id)) for t in tickets}


def _facts(
    ticket: Ticket, history: list[tuple[datetime, str]], answer: datetime | None
) -> TicketFacts:
    closed = None
    if ticket.status == TicketStatus.CLOSED:
        closes = [at for at, status in history if status == TicketStatus.CLOSED]
        closed = closes[-1] if closes else ticket.updated_at
    return TicketFacts(ticket.created_at, ticket.priority, tuple(history), answer, closed)


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def sla_of(plan: Plan, facts: TicketFacts, now: datetime) -> TicketSla:
    targets = (
        plan.target("first_response", facts.priority),
        plan.target("resolution", facts.priority),
    )
    return ticket_sla(plan.calendar, targets, plan.pause_while_upstream, facts, now)


def clock_json(plan: Plan, state: Clock | None) -> dict[str, Any] | None:
    """`due` in the plan's zone, as the customer's promise reads."""
    if state is None:
        return None
    return {
        "due": plan.calendar.local(state.due).isoformat(timespec="seconds"),
        "met": state.met,
        "breached": state.breached,
        "paused": state.paused,
        "left_seconds": int(state.left.total_seconds()),
    }


def sla_json(plan: Plan, sla: TicketSla) -> dict[str, Any]:
    return {
        "plan": plan.id,
        "first_response": clock_json(plan, sla.first_response),
        "resolution": clock_json(plan, sla.resolution),
        "paused_seconds": int(sla.paused.total_seconds()),
    }
