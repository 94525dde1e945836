"""gateway/plans_config.py: [[plans]] read into routing's Plan, every mistake named by its key."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gateway.config import Support
from gateway.config.model import DEFAULT_PLAN, Plans
from gateway.config.plans import read_plans
from gateway.config.values import Table

SUPPORT = Support(
    hours="Mon-Fri 08:00-18:00",
    timezone="Europe/Amsterdam",
    contact="",
    pricing="",
    first_response=timedelta(hours=4),
    close_waiting_after=timedelta(days=7),
    self_help="",
    acks_per_hour=5,
)
PLANS = """
[[plans]]
id = "standard"
holidays = "NL"
closed = ["2026-12-31"]
first_response = { low = "8h", normal = "4h", high = "2h", urgent = "1h" }
resolution = { normal = "3d" }
rate = 95.0
included_hours = 2
prepaid_hours = 10.5
rounding = "15m"
minimum = "30m"
statements = true

[[plans]]
id = "premium"
hours = "24x7"
timezone = "UTC"
first_response = { normal = "1h" }
pause_while_upstream = false
currency = "USD"
"""


def read(text: str, default: str | None = None) -> tuple[Plans, list[str]]:
    problems: list[str] = []
    data: dict[str, Any] = tomllib.loads(text)
    root = Table(data, "", problems)
    plans = read_plans(list(root.tables("plans")), SUPPORT, default, "support.plan", problems)
    return plans, problems


def test_plans_as_written() -> None:
    plans, problems = read(PLANS, default="premium")
    assert problems == []
    standard, premium = plans.plans
    assert plans.default == "premium" and plans.get(None) is premium and plans.written
    assert plans.get("standard") is standard
    assert standard.calendar.hours == "Mon-Fri 08:00-18:00"  # support.hours by default
    assert standard.calendar.is_closed(date(2026, 12, 31))
    assert standard.target("first_response", "high") == timedelta(hours=2)
    assert standard.target("resolution", "urgent") == timedelta(hours=30)  # normal: 3 days of 10 h
    assert (standard.rate, standard.prepaid_hours) == (Decimal("95.0"), Decimal("10.5"))
    assert (standard.rounding_minutes, standard.minimum_minutes) == (15, 30)
    assert standard.statements and not premium.statements
    assert premium.calendar.always and not premium.pause_while_upstream
    assert premium.target("resolution", "normal") is None


def test_without_plans_support_makes_the_default_plan() -> None:
    plans, problems = read("")
    assert problems == []
    (plan,) = plans.plans
    assert plan.id == DEFAULT_PLAN and plans.default == DEFAULT_PLAN and not plans.written
    assert plan.target("first_response", "urgent") == timedelta(hours=4)
    assert plan.calendar.hours == SUPPORT.hours and plan.rate == 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[plans]]\nid = "Gold"', "plans[0].id: must be a lower-case id"),
        ('[[plans]]\nid = "a"\nhours = "office"', "plans[0].hours: hours must be like"),
        ('[[plans]]\nid = "a"\nholidays = "XX"', "plans[0].holidays: no holidays are known"),
        ('[[plans]]\nid = "a"\ntimezone = "Mars/Base"', "plans[0].timezone: is not a known"),
        ('[[plans]]\nid = "a"\nclosed = ["31-12"]', "plans[0].closed[0]: must be a day"),
        ('[[plans]]\nid = "a"\nrate = -1', "plans[0].rate: must be a number of at least 0"),
        ('[[plans]]\nid = "a"\ncurrency = "euro"', "plans[0].currency: must be an ISO 4217"),
        (
            '[[plans]]\nid = "a"\nfirst_response = { asap = "1h" }',
            "plans[0].first_response.asap: unknown priority",
        ),
        (
            '[[plans]]\nid = "a"\nresolution = { high = "0m" }',
            "plans[0].resolution.high: must be longer than 0s",
        ),
        ('[[plans]]\nid = "a"\n[[plans]]\nid = "a"', "plans[1].id: 'a' is used twice"),
        ('[[plans]]\nid = "a"\nrates = 9', "plans[0].rates: unknown key"),
    ],
)
def test_mistakes_are_named_by_their_key(text: str, problem: str) -> None:
    _, problems = read(text)
    assert any(p.startswith(problem) for p in problems), problems


def test_a_default_plan_that_does_not_exist() -> None:
    assert read(PLANS, default="gold")[1] == ["support.plan: no [[plans]] entry has id 'gold'"]
    assert read("", default="gold")[1] == ["support.plan: no [[plans]] entry has id 'gold'"]
