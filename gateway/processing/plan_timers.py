"""What the plans' scheduled work finds to do, read from the database: SLA reminders (a quarter
of a target left, in service time) and breaches, each once per ticket and clock; whether the
day's digest and the month's statements are due; and each agent's digest.

The daemon's timers job calls these in the one daemon that holds the timers' lock, and queues
the mail in the same transaction as the event or the sent_once key that makes it once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.config import Config
from gateway.processing import sla_state
from gateway.reports.statement import Month
from gateway.store.models import Event, Ticket, TicketStatus
from routing.calendar import ServiceCalendar
from routing.directory import Agent
from routing.plans import CLOCKS, Plan
from routing.sla import Clock, TicketSla

REMIND_AT = 0.25  # of a target's service time left
PlanFor = Callable[[str | None], Plan]


def plan_for(config: Config) -> PlanFor:
    """Each customer's plan, by customer id; the default plan for an unknown sender."""

    def find(customer_id: str | None) -> Plan:
        customer = config.customer(customer_id)
        return config.plans.get(customer.plan if customer else None)

    return find


@dataclass(frozen=True)
class ClockAlert:
    ticket: Ticket
    clock: str  # first_response | resolution
    due: datetime
    breach: bool  # else a reminder


def open_tickets(session: Session) -> Sequence[Ticket]:
    return session.scalars(
        select(Ticket).where(Ticket.status != TicketStatus.CLOSED).order_by(Ticket.number)
    ).all()


def slas(
    session: Session, tickets: Sequence[Ticket], plan_for: PlanFor, now: datetime
) -> dict[int, TicketSla]:
    facts = sla_state.facts_of(session, tickets)
    return {t.id: sla_state.sla_of(plan_for(t.customer_id), facts[t.id], now) for t in tickets}


def clock_alerts(session: Session, plan_for: PlanFor, now: datetime) -> list[ClockAlert]:
    """Reminders and breaches not told before, oldest ticket first."""
    tickets = open_tickets(session)
    states = slas(session, tickets, plan_for, now)
    told = _told(session, [t.id for t in tickets])
    alerts = []
    for ticket in tickets:
        plan = plan_for(ticket.customer_id)
        for name, state in _clocks(states[ticket.id]):
            target = plan.target(name, ticket.priority)
            if state.breached and (ticket.id, "sla_breached", name) not in told:
                alerts.append(ClockAlert(ticket, name, state.due, breach=True))
            elif _remind(state, target) and (ticket.id, "reminded", name) not in told:
                alerts.append(ClockAlert(ticket, name, state.due, breach=False))
    return alerts


def _clocks(sla: TicketSla) -> list[tuple[str, Clock]]:
    pairs = zip(CLOCKS, (sla.first_response, sla.resolution), strict=True)
    return [(name, state) for name, state in pairs if state is not None]


def _remind(state: Clock, target: timedelta | None) -> bool:
    running = not (state.met or state.breached or state.paused)
    return running and target is not None and state.left <= target * REMIND_AT


def _told(session: Session, ids: list[int]) -> set[tuple[int, str, str]]:
    """(ticket, event, clock) of the reminders and breaches already recorded. A "reminded"
    event without a clock is the first-response reminder of before the plans."""
    found = set()
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Event.ticket_id, Event.what, Event.detail).where(
                Event.ticket_id.in_(ids[start : start + 500]),
                Event.what.in_(("reminded", "sla_breached")),
            )
        )
        for ticket_id, what, detail in rows:
            found.add((ticket_id, what, str(detail.get("clock", "first_response"))))
    return found


# --- the day's digest and the month's statements ---


def digest_day(calendar: ServiceCalendar, now: datetime) -> str | None:
    """The local day whose digest is due now (service hours have begun and not ended), as
    "2026-12-01"; None on a closed day or outside its hours."""
    day = calendar.local_date(now)
    spans = calendar.open_spans(day)
    if not spans or not spans[0][0] <= now < spans[-1][1]:
        return None
    return day.isoformat()


CATCH_UP = timedelta(days=7)  # statements not sent on time are sent this long after


def statements_month(calendar: ServiceCalendar, now: datetime) -> Month | None:
    """The month whose statements are due: the one before, from the opening of this month's
    first working day on, for a week (a daemon that was down then sends them when it is back;
    one installed later in the month does not send last month's)."""
    day = calendar.local_date(now)
    first = calendar.first_working_day(day.year, day.month)
    opening = calendar.opening(first)
    if day < first or (day == first and opening is not None and now < opening):
        return None
    if day >= first + CATCH_UP:
        return None
    return Month(day.year, day.month).previous


@dataclass(frozen=True)
class DigestLine:
    number: int
    subject: str
    customer: str | None
    status: str
    due: datetime | None  # of the clock that is breached or falls due


@dataclass(frozen=True)
class Digest:
    agent: Agent
    breached: list[DigestLine] = field(default_factory=list)
    due_today: list[DigestLine] = field(default_factory=list)
    waiting_upstream: list[DigestLine] = field(default_factory=list)
    unassigned: list[DigestLine] = field(default_factory=list)

    def empty(self) -> bool:
        sections = (self.breached, self.due_today, self.waiting_upstream, self.unassigned)
        return not any(sections)


def digests(
    session: Session,
    agents: Sequence[Agent],
    plan_for: PlanFor,
    calendar: ServiceCalendar,
    now: datetime,
) -> list[Digest]:
    """Per agent, the open tickets they may act on that are breached, fall due before the end
    of today's service hours, wait on Microsoft or a provider, or have nobody assigned; each
    ticket in the first of these that applies. Agents with nothing get no digest."""
    tickets = open_tickets(session)
    states = slas(session, tickets, plan_for, now)
    spans = calendar.open_spans(calendar.local_date(now))
    end_of_day = spans[-1][1] if spans else now
    found = []
    for agent in agents:
        digest = Digest(agent)
        for ticket in tickets:
            if agent.may_act_on(ticket.customer_id):
                _sort_into(digest, ticket, states[ticket.id], end_of_day)
        if not digest.empty():
            found.append(digest)
    return found


def _sort_into(digest: Digest, ticket: Ticket, sla: TicketSla, end_of_day: datetime) -> None:
    clocks = [state for _, state in _clocks(sla)]
    breached = [c.due for c in clocks if c.breached]
    due = [c.due for c in sla.running() if c.due <= end_of_day]

    def line(at: datetime | None) -> DigestLine:
        return DigestLine(ticket.number, ticket.subject, ticket.customer_id, ticket.status, at)

    if breached:
        digest.breached.append(line(min(breached)))
    elif due:
        digest.due_today.append(line(min(due)))
    elif ticket.status == TicketStatus.WAITING_UPSTREAM:
        digest.waiting_upstream.append(line(None))
    elif ticket.assignee is None:
        digest.unassigned.append(line(None))
