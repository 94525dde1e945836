"""A month's statement per customer, from plain facts: the tickets opened and closed, the SLA
clocks whose outcome fell in the month, the time entries and the plan's prices.

The facts come from the database (gateway/reports/gather.py); everything here is arithmetic on
them, so the renderers (text, JSON, CSV, HTML) and the tests need no database. A clock counts in
the month its outcome became known: met when it stopped in time, breached when it fell due
unmet; so a past month's figures do not change later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from routing.billing import MonthCharge, month_charge
from routing.plans import CLOCKS, Plan

ROUTES = ("handled", "microsoft", "provider", "sales")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """ "2026-11"; ValueError otherwise."""
        year, sep, month = text.partition("-")
        if not (sep and year.isdigit() and month.isdigit() and len(year) == 4):
            raise ValueError(f"a month is written YYYY-MM, got {text!r}")
        if not 1 <= int(month) <= 12:
            raise ValueError(f"no month {month} in {text!r}")
        return cls(int(year), int(month))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def days(self) -> list[date]:
        count = (self.next.first_day - self.first_day).days
        return [self.first_day + timedelta(days=i) for i in range(count)]


@dataclass(frozen=True)
class TicketRecord:
    number: int
    subject: str
    opened: datetime
    route: str  # one of ROUTES


@dataclass(frozen=True)
class ClockOutcome:
    ticket: int
    clock: str  # first_response | resolution
    met: bool
    at: datetime  # when it stopped in time, or when it fell due unmet


@dataclass(frozen=True)
class TimeLine:
    ticket: int
    subject: str
    agent: str
    at: datetime
    minutes: int  # negative: a correction
    billable: bool
    note: str


@dataclass(frozen=True)
class CustomerFacts:
    """What happened for one customer in the month, as the database has it."""

    customer: str
    name: str
    plan: Plan
    opened: tuple[TicketRecord, ...]  # tickets opened in the month
    closed: tuple[tuple[int, datetime], ...]  # (ticket, when) closed in the month
    outcomes: tuple[ClockOutcome, ...]
    time: tuple[TimeLine, ...]
    prepaid_left_before: Decimal  # of the plan's block at the start of the month


@dataclass(frozen=True)
class CustomerStatement:
    facts: CustomerFacts
    charge: MonthCharge

    @property
    def customer(self) -> str:
        return self.facts.customer

    @property
    def plan(self) -> Plan:
        return self.facts.plan

    @property
    def by_route(self) -> dict[str, int]:
        counted = Counter(t.route for t in self.facts.opened)
        return {route: counted.get(route, 0) for route in ROUTES}

    @property
    def escalated(self) -> int:
        routes = self.by_route
        return routes["microsoft"] + routes["provider"]

    def sla(self, clock: str) -> tuple[int, int]:
        """(met, breached) of one clock's outcomes in the month."""
        outcomes = [o for o in self.facts.outcomes if o.clock == clock]
        met = sum(o.met for o in outcomes)
        return met, len(outcomes) - met

    @property
    def sla_met(self) -> int:
        return sum(self.sla(clock)[0] for clock in CLOCKS)

    @property
    def sla_breached(self) -> int:
        return sum(self.sla(clock)[1] for clock in CLOCKS)

    @property
    def attainment(self) -> float | None:
        """The share of the month's outcomes that met their target; None without any."""
        total = self.sla_met + self.sla_breached
        return self.sla_met / total if total else None

    def minutes(self, billable: bool) -> int:
        return sum(t.minutes for t in self.facts.time if t.billable == billable)

    @property
    def hours_nonbillable(self) -> Decimal:
        return Decimal(max(0, self.minutes(False))) / 60

    @property
    def breaches(self) -> list[ClockOutcome]:
        return sorted((o for o in self.facts.outcomes if not o.met), key=lambda o: o.at)


@dataclass(frozen=True)
class MonthReport:
    month: Month
    customers: tuple[CustomerStatement, ...]


def billable_minutes_by_ticket(time: Sequence[TimeLine]) -> dict[str, list[int]]:
    by_ticket: dict[str, list[int]] = {}
    for line in time:
        if line.billable:
            by_ticket.setdefault(str(line.ticket), []).append(line.minutes)
    return by_ticket


def statement(facts: CustomerFacts) -> CustomerStatement:
    pricing = facts.plan.pricing(facts.prepaid_left_before)
    return CustomerStatement(facts, month_charge(billable_minutes_by_ticket(facts.time), pricing))


def month_report(month: Month, customers: Sequence[CustomerFacts]) -> MonthReport:
    return MonthReport(month, tuple(statement(f) for f in sorted(customers, key=_by_id)))


def _by_id(facts: CustomerFacts) -> str:
    return facts.customer


def weeks(month: Month) -> list[date]:
    """The Monday of each ISO week that has a day in the month."""
    mondays = dict.fromkeys(day - timedelta(days=day.weekday()) for day in month.days())
    return list(mondays)


def per_week(moments: Sequence[datetime], month: Month, plan: Plan) -> list[int]:
    """How many of `moments` fall in each of the month's weeks (days in the plan's zone)."""
    mondays = weeks(month)
    counts = [0] * len(mondays)
    for moment in moments:
        day = plan.calendar.local_date(moment)
        monday = day - timedelta(days=day.weekday())
        if monday in mondays:
            counts[mondays.index(monday)] += 1
    return counts


def billable_hours_by_day(statement: CustomerStatement, month: Month) -> list[Decimal]:
    """Billable hours entered up to the end of each day of the month, as entered (before
    rounding: the rounding is per ticket and month)."""
    days = month.days()
    totals = [Decimal(0)] * len(days)
    for line in statement.facts.time:
        day = statement.plan.calendar.local_date(line.at)
        if line.billable and day in days:
            totals[days.index(day)] += Decimal(line.minutes) / 60
    running, cumulative = Decimal(0), []
    for value in totals:
        running += value
        cumulative.append(running)
    return cumulative
