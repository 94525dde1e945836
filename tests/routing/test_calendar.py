"""routing/calendar.py: service time across evenings, weekends, holidays, DST and 24x7."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing.calendar import CalendarError, ServiceCalendar

AMS = ZoneInfo("Europe/Amsterdam")
OFFICE = ServiceCalendar("Mon-Fri 08:00-18:00", "Europe/Amsterdam", holidays="NL")


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=AMS)  # type: ignore[misc]


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.mark.parametrize(
    ("start", "target", "due"),
    [
        (local(2026, 12, 1, 9, 0), hours(4), local(2026, 12, 1, 13, 0)),  # within the day
        (local(2026, 12, 1, 16, 0), hours(4), local(2026, 12, 2, 10, 0)),  # over the evening
        (local(2026, 12, 1, 20, 0), hours(1), local(2026, 12, 2, 9, 0)),  # from a closed hour
        (local(2026, 12, 4, 17, 0), hours(2), local(2026, 12, 7, 9, 0)),  # over a weekend
        (local(2026, 12, 5, 11, 0), hours(1), local(2026, 12, 7, 9, 0)),  # from a Saturday
        (local(2026, 12, 1, 9, 0), hours(30), local(2026, 12, 4, 9, 0)),  # several days
        (local(2026, 12, 1, 18, 0), hours(10), local(2026, 12, 2, 18, 0)),  # exactly a day
    ],
)
def test_due_in_office_hours(start: datetime, target: timedelta, due: datetime) -> None:
    assert OFFICE.due(start, target) == due


def test_holidays_are_closed() -> None:
    # Christmas (Fri 25 Dec 2026) and Boxing Day are Dutch public holidays.
    assert OFFICE.due(local(2026, 12, 24, 17, 0), hours(2)) == local(2026, 12, 28, 9, 0)
    assert OFFICE.is_closed(date(2026, 4, 27))  # King's Day


def test_a_subdivision_has_its_own_holidays() -> None:
    cologne = ServiceCalendar("Mon-Fri 08:00-18:00", "Europe/Berlin", holidays="DE-NW")
    hamburg = ServiceCalendar("Mon-Fri 08:00-18:00", "Europe/Berlin", holidays="DE-HH")
    corpus_christi = date(2026, 6, 4)
    assert cologne.is_closed(corpus_christi) and not hamburg.is_closed(corpus_christi)


def test_extra_closed_days() -> None:
    calendar = ServiceCalendar(
        "Mon-Fri 08:00-18:00", "Europe/Amsterdam", closed=frozenset({date(2026, 12, 31)})
    )
    assert calendar.due(local(2026, 12, 30, 17, 0), hours(2)) == local(2027, 1, 1, 9, 0)


def test_dst_changes_count_wall_clock_hours() -> None:
    # 29 March 2026: clocks go from 02:00 to 03:00 in Amsterdam; 25 October back again.
    night = ServiceCalendar("Mon-Sun 00:00-24:00", "Europe/Amsterdam")
    start = local(2026, 3, 28, 12, 0)
    assert night.elapsed(start, local(2026, 3, 29, 12, 0)) == hours(23)
    assert night.elapsed(local(2026, 10, 24, 12, 0), local(2026, 10, 25, 12, 0)) == hours(25)
    # Office hours do not move: 08:00 is 08:00 local on both sides of the change.
    assert OFFICE.due(local(2026, 3, 27, 17, 0), hours(2)) == local(2026, 3, 30, 9, 0)
    assert OFFICE.due(local(2026, 3, 27, 17, 0), hours(2)).utcoffset() == hours(2)


def test_24x7_is_plain_time() -> None:
    always = ServiceCalendar("24x7", "UTC")
    start = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)
    assert always.due(start, hours(1)) == datetime(2026, 12, 6, 0, 30, tzinfo=UTC)
    assert always.elapsed(start, start + hours(49)) == hours(49)


def test_24x7_with_holidays_skips_them_whole() -> None:
    always = ServiceCalendar("24x7", "Europe/Amsterdam", holidays="NL")
    assert always.due(local(2026, 12, 24, 23, 0), hours(2)) == local(2026, 12, 27, 1, 0)


def test_elapsed_is_the_inverse_of_due() -> None:
    start = local(2026, 12, 3, 15, 30)
    for target in (hours(0.5), hours(4), hours(13), hours(45)):
        assert OFFICE.elapsed(start, OFFICE.due(start, target)) == target


def test_elapsed_counts_only_open_time() -> None:
    assert OFFICE.elapsed(local(2026, 12, 4, 17, 0), local(2026, 12, 7, 9, 0)) == hours(2)
    assert OFFICE.elapsed(local(2026, 12, 5, 9, 0), local(2026, 12, 5, 17, 0)) == hours(0)
    assert OFFICE.elapsed(local(2026, 12, 2, 9, 0), local(2026, 12, 1, 9, 0)) == hours(0)


def test_several_spans_a_day() -> None:
    split = ServiceCalendar("Mon-Fri 08:00-12:00, Mon-Fri 13:00-17:00, Sat 10:00-12:00", "UTC")
    start = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)  # a Friday
    assert split.due(start, hours(1)) == datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert split.due(start, hours(1.5)) == datetime(2026, 12, 4, 13, 30, tzinfo=UTC)
    assert split.due(start, hours(6)) == datetime(2026, 12, 5, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours_text", "holidays_code", "reason"),
    [
        ("office hours", "", "hours must be like"),
        ("Mon-Fri 09:00-09:00", "", "has no open time"),
        ("24x7", "XX", "no holidays are known for 'XX'"),
    ],
)
def test_unusable_calendars_are_refused(hours_text: str, holidays_code: str, reason: str) -> None:
    with pytest.raises(CalendarError, match=reason):
        ServiceCalendar(hours_text, "UTC", holidays=holidays_code)


def test_the_first_working_day_of_a_month_skips_weekends_and_holidays() -> None:
    assert OFFICE.first_working_day(2026, 11) == date(2026, 11, 2)  # the 1st is a Sunday
    assert OFFICE.first_working_day(2027, 1) == date(2027, 1, 4)  # New Year, then a weekend
    assert ServiceCalendar("24x7", "UTC").first_working_day(2026, 11) == date(2026, 11, 1)


def test_a_days_opening_is_local_and_none_when_closed() -> None:
    assert OFFICE.opening(date(2026, 12, 1)) == local(2026, 12, 1, 8, 0)
    assert OFFICE.opening(date(2026, 12, 25)) is None
    assert OFFICE.local_date(datetime(2026, 12, 1, 23, 30, tzinfo=UTC)) == date(2026, 12, 2)


def test_a_usual_week_of_open_time() -> None:
    assert OFFICE.week() == (hours(50), 5)
    assert ServiceCalendar("24x7", "UTC").week() == (hours(168), 7)
    split = ServiceCalendar("Mon-Fri 08:00-12:00, Mon-Fri 13:00-17:00, Sat 10:00-12:00", "UTC")
    assert split.week() == (hours(42), 6)
