"""Agents' time on tickets (`#time`), a customer's month of it, and the usage levels (80 %,
100 % of the included hours or of the prepaid block) it reaches, each told once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gateway.reports.statement import Month, TimeLine
from gateway.store import sent_once
from gateway.store.models import Ticket, TimeEntry
from routing import billing
from routing.plans import Plan

_INSERT = insert(TimeEntry.__table__)


def record(
    session: Session,
    ticket: Ticket,
    agent: str,
    entry: billing.TimeEntry,
    at: datetime,
    raw_message_id: int | None = None,
) -> None:
    values = {
        "ticket_id": ticket.id,
        "agent": agent,
        "minutes": entry.minutes,
        "billable": entry.billable,
        "note": entry.note,
        "at": at,
        "raw_message_id": raw_message_id,
    }
    session.execute(_INSERT, values)


def month_bounds(month: Month, plan: Plan) -> tuple[datetime, datetime]:
    """The month in the plan's zone, as UTC instants [start, end)."""
    zone = plan.calendar.local(datetime(2000, 1, 1, tzinfo=UTC)).tzinfo
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    end = datetime(month.next.year, month.next.month, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_of(moment: datetime, plan: Plan) -> Month:
    day = plan.calendar.local_date(moment)
    return Month(day.year, day.month)


def entries(
    session: Session, customer_id: str, start: datetime | None, end: datetime
) -> list[TimeLine]:
    """The customer's time entries from `start` (None: the first) until `end`, oldest first."""
    statement = (
        select(TimeEntry, Ticket.number, Ticket.subject)
        .join(Ticket, Ticket.id == TimeEntry.ticket_id)
        .where(Ticket.customer_id == customer_id, TimeEntry.at < end)
        .order_by(TimeEntry.at, TimeEntry.id)
    )
    if start is not None:
        statement = statement.where(TimeEntry.at >= start)
    return [
        TimeLine(number, subject, e.agent, e.at, e.minutes, e.billable, e.note)
        for e, number, subject in session.execute(statement).all()
    ]


def by_month(lines: Sequence[TimeLine], plan: Plan) -> list[dict[str, list[int]]]:
    """Billable minutes per ticket of each month with entries, oldest first."""
    months: dict[Month, dict[str, list[int]]] = {}
    for line in lines:
        if line.billable:
            month = months.setdefault(month_of(line.at, plan), {})
            month.setdefault(str(line.ticket), []).append(line.minutes)
    return [months[m] for m in sorted(months, key=lambda m: (m.year, m.month))]


def prepaid_left_before(session: Session, customer_id: str, plan: Plan, month: Month) -> Decimal:
    """What is left of the plan's prepaid block when `month` begins."""
    if plan.prepaid_hours <= 0:
        return Decimal(0)
    start, _ = month_bounds(month, plan)
    earlier = by_month(entries(session, customer_id, None, start), plan)
    return billing.prepaid_left(earlier, plan.prepaid_hours, plan.pricing(plan.prepaid_hours))


@dataclass(frozen=True)
class Usage:
    """A usage level reached for the first time: to be told."""

    customer: str
    allowance: str  # included | prepaid
    percent: int
    used: Decimal  # hours
    of: Decimal  # hours
    month: Month


def usage_reached(session: Session, customer_id: str, plan: Plan, now: datetime) -> list[Usage]:
    """The levels of the included hours (this month) and of the prepaid block (all months)
    that the customer's time has reached and that were not told before; each is claimed
    here (gateway/sent_once.py), so it is told once whatever runs at the same time."""
    month = month_of(now, plan)
    start, end = month_bounds(month, plan)
    left_before = prepaid_left_before(session, customer_id, plan, month)
    lines = entries(session, customer_id, start, end)
    charge = billing.month_charge(
        {k: v for m in by_month(lines, plan) for k, v in m.items()}, plan.pricing(left_before)
    )
    block_used = plan.prepaid_hours - charge.prepaid_left
    levels = [
        ("included", charge.billable_hours, plan.included_hours, f"{month}"),
        ("prepaid", block_used, plan.prepaid_hours, f"block-{plan.prepaid_hours}"),
    ]
    found = []
    for allowance, used, of, period in levels:
        for percent in billing.usage_reached(used, of):
            key = f"usage:{customer_id}:{period}:{allowance}:{percent}"
            if sent_once.claim(session, key):
                found.append(Usage(customer_id, allowance, percent, used, of, month))
    return found
