"""The `[[plans]]` section of config.toml (and `[support] plan`) → routing/plans.py's `Plan`s.

Without `[[plans]]`, one plan named "default" is made of `[support]`: its hours and zone (hours
written as free text count as always open), and `support.first_response` for every priority,
without a resolution target or prices; so the first-response reminder is counted in service
hours as the acknowledgement promises.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.config.model import DEFAULT_PLAN, Plans, Support
from gateway.config.values import Table, parse_duration, zone_value
from routing.calendar import ALWAYS, CalendarError, ServiceCalendar
from routing.hours import parse_hours
from routing.plans import PRIORITIES, Plan, Targets, service_time


def implicit_plan(support: Support) -> Plan:
    hours = support.hours if parse_hours(support.hours) else ALWAYS
    target = tuple((priority, support.first_response) for priority in PRIORITIES)
    return Plan(DEFAULT_PLAN, ServiceCalendar(hours, support.timezone), first_response=target)


def read_plans(
    tables: list[Table], support: Support, default: str | None, key: str, problems: list[str]
) -> Plans:
    """`default` is `[support] plan`, given at `key`: a plan id, or None."""
    plans = tuple(p for p in (_plan(t, support) for t in tables) if p is not None)
    seen: set[str] = set()
    for i, plan in enumerate(plans):
        if plan.id in seen:
            problems.append(f"plans[{i}].id: {plan.id!r} is used twice")
        seen.add(plan.id)
    if not tables:
        plans, seen = (implicit_plan(support),), {DEFAULT_PLAN}
    if default and default not in seen:
        problems.append(f"{key}: no [[plans]] entry has id {default!r}")
    if not tables or not plans:  # none written, or each refused with its problems
        return Plans((implicit_plan(support),), DEFAULT_PLAN, written=False)
    return Plans(plans, default if default in seen else plans[0].id)


def _plan(t: Table, support: Support) -> Plan | None:
    plan_id = t.get("id", _plan_id)
    calendar = _calendar(t, support)
    counted_in = calendar or ServiceCalendar(ALWAYS, "UTC")
    first_response = _targets(t, "first_response", counted_in)
    resolution = _targets(t, "resolution", counted_in)
    rounding = t.get("rounding", parse_duration, timedelta(minutes=15))
    minimum = t.get("minimum", parse_duration, timedelta(0))
    plan = Plan(
        id=plan_id,
        calendar=counted_in,
        first_response=first_response,
        resolution=resolution,
        pause_while_upstream=t.bool("pause_while_upstream", True),
        rate=t.get("rate", _amount, Decimal(0)),
        currency=t.get("currency", _currency, "EUR"),
        included_hours=t.get("included_hours", _amount, Decimal(0)),
        prepaid_hours=t.get("prepaid_hours", _amount, Decimal(0)),
        rounding_minutes=_minutes(rounding),
        minimum_minutes=_minutes(minimum),
        statements=t.bool("statements", False),
        balance_notices=t.bool("balance_notices", False),
    )
    t.finish()
    return plan if plan_id and calendar else None


def _calendar(t: Table, support: Support) -> ServiceCalendar | None:
    hours = t.str("hours", support.hours)
    zone = t.get("timezone", zone_value, support.timezone)
    country = t.str("holidays", "")
    closed = frozenset(t.list("closed", _day))
    if hours is None or zone is None or country is None:
        return None
    try:
        return ServiceCalendar(hours, zone, holidays=country, closed=closed)
    except CalendarError as exc:
        where = "holidays" if "holidays" in str(exc) else "hours"
        t.problems.append(f"{t.key(where)}: {exc}")
        return None


def _targets(t: Table, name: str, calendar: ServiceCalendar) -> Targets:
    """Per priority, in service time: "1d" is a usual open day of the plan's calendar."""
    table = t.table(name)
    found = {}
    for priority in PRIORITIES:
        value = table.get(priority, parse_duration, None)
        if value is not None and value <= timedelta(0):
            t.problems.append(f"{table.key(priority)}: must be longer than 0s")
        elif value is not None:
            found[priority] = service_time(str(table.data[priority]), calendar)
    for extra in sorted(set(table.data) - set(PRIORITIES)):
        t.problems.append(f"{table.key(extra)}: unknown priority; use {', '.join(PRIORITIES)}")
    return tuple(found.items())


def _plan_id(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", value):
        raise ValueError(f"must be a lower-case id (letters, digits, - _ .), got {value!r}")
    return value


def _day(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f'must be a day such as "2026-12-31", got {value!r}') from None


def _amount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number of at least 0, got {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"must be a number of at least 0, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"must be a number of at least 0, got {value!r}")
    return amount


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        raise ValueError(f'must be an ISO 4217 code such as "EUR", got {value!r}')
    return value


def _minutes(duration: timedelta | None) -> int:
    return int(duration.total_seconds() // 60) if duration is not None else 0
