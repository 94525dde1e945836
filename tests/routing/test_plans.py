"""routing/plans.py: targets in service time, a day being a usual open day of the plan."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing.calendar import ServiceCalendar
from routing.plans import Plan, service_time

OFFICE = ServiceCalendar("Mon-Fri 08:00-18:00", "Europe/Amsterdam", holidays="NL")
ALWAYS = ServiceCalendar("24x7", "UTC")


@pytest.mark.parametrize(
    ("text", "office", "always"),
    [
        ("4h", timedelta(hours=4), timedelta(hours=4)),
        ("90m", timedelta(minutes=90), timedelta(minutes=90)),
        ("1d", timedelta(hours=10), timedelta(hours=24)),
        ("3d", timedelta(hours=30), timedelta(hours=72)),
        ("1w", timedelta(hours=50), timedelta(days=7)),
        ("1d4h", timedelta(hours=14), timedelta(hours=28)),
    ],
)
def test_days_and_weeks_are_the_calendars(text: str, office: timedelta, always: timedelta) -> None:
    assert service_time(text, OFFICE) == office
    assert service_time(text, ALWAYS) == always


def test_one_day_is_by_the_same_time_the_next_working_day() -> None:
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert OFFICE.due(friday, service_time("1d", OFFICE)) == friday + timedelta(days=3)


def test_a_priority_without_a_target_takes_normals() -> None:
    plan = Plan("p", OFFICE, first_response=(("normal", timedelta(hours=4)),))
    assert plan.target("first_response", "urgent") == timedelta(hours=4)
    assert plan.target("resolution", "urgent") is None
