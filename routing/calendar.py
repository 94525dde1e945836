"""Service calendars: the time a support plan's clocks count in.

Opening hours per weekday in a time zone ("Mon-Fri 08:00-18:00", or "24x7"), minus public
holidays (the `holidays` library, by country and subdivision: "NL", "BE", "DE-NW") and extra
closed days. Two questions are answered: when a target of some service time falls due from a
moment (`due`), and how much service time lies between two moments (`elapsed`). Times go in
and out as aware datetimes; the arithmetic is done on each local day's open spans converted to
UTC, so a day of 23 or 25 hours (a DST change) counts what the clock on the wall shows.

Pure: the holiday tables are computed, not fetched, and nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from routing.hours import Span, parse_hours

ALWAYS = "24x7"
_END_OF_DAY = time(23, 59, 59)  # routing/hours.py's reading of "24:00"
# A calendar with no open hour in ten years is a configuration mistake, not a long wait.
_SEARCH_DAYS = 3660


class CalendarError(ValueError):
    """The calendar cannot be used as written; the text says why."""


@dataclass(frozen=True)
class ServiceCalendar:
    hours: str  # "Mon-Fri 08:00-18:00" or "24x7"
    timezone: str  # IANA name
    holidays: str = ""  # "NL", "DE-NW"; "" for none
    closed: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.hours.strip().lower() != ALWAYS and parse_hours(self.hours) is None:
            raise CalendarError(
                f'hours must be like "Mon-Fri 08:00-18:00" or "24x7": {self.hours!r}'
            )
        if not self.always and not any(span.start < span.end for span in self._spans):
            raise CalendarError(f"hours has no open time: {self.hours!r}")
        self._holiday_table  # noqa: B018  (an unknown country fails here, at load)

    @property
    def always(self) -> bool:
        return self.hours.strip().lower() == ALWAYS

    @cached_property
    def _spans(self) -> tuple[Span, ...]:
        return parse_hours(self.hours) or ()

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _holiday_table(self) -> Any:
        if not self.holidays:
            return {}
        country, _, subdivision = self.holidays.partition("-")
        try:
            return holidays.country_holidays(country, subdiv=subdivision or None)
        except NotImplementedError:
            raise CalendarError(f"no holidays are known for {self.holidays!r}") from None

    def is_closed(self, day: date) -> bool:
        return day in self.closed or day in self._holiday_table

    def open_spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open spans of a local day, in UTC, in order; none on a closed day."""
        if self.is_closed(day):
            return []
        if self.always:
            return [(self._utc(day, time(0)), self._utc(day + timedelta(days=1), time(0)))]
        found = []
        for span in self._spans:
            if day.weekday() in span.days and span.start < span.end:
                end = (
                    self._utc(day + timedelta(days=1), time(0))
                    if span.end == _END_OF_DAY
                    else self._utc(day, span.end)
                )
                found.append((self._utc(day, span.start), end))
        return _merged(sorted(found))

    def week(self) -> tuple[timedelta, int]:
        """The open time of a usual week (no holidays, no DST change) and its open days: what
        "1w" and "1d" of a target mean in this calendar (routing/plans.py)."""
        if self.always:
            return timedelta(days=7), 7
        total, days = timedelta(0), 0
        for weekday in range(7):
            spans = [s for s in self._spans if weekday in s.days and s.start < s.end]
            hours = sum((_length(s.start, s.end) for s in spans), start=timedelta(0))
            total += hours
            days += hours > timedelta(0)
        return total, days

    def opening(self, day: date) -> datetime | None:
        """When a local day's service begins (UTC), or None on a closed day."""
        spans = self.open_spans(day)
        return spans[0][0] if spans else None

    def first_working_day(self, year: int, month: int) -> date:
        """The first day of a month with service hours (after weekends and holidays)."""
        day = date(year, month, 1)
        while self.opening(day) is None:
            day += timedelta(days=1)
            if day.month != month:
                raise CalendarError(f"no open day in {year}-{month:02d}")
        return day

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self._zone)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self._zone).date()

    def _utc(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment, tzinfo=self._zone).astimezone(UTC)

    def _spans_from(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open spans from `start` on, the first cut to begin at `start`."""
        start = start.astimezone(UTC)
        day = start.astimezone(self._zone).date() - timedelta(days=1)  # a span may cross midnight
        for _ in range(_SEARCH_DAYS):
            for opens, closes in self.open_spans(day):
                if closes > start:
                    yield max(opens, start), closes
            day += timedelta(days=1)

    def due(self, start: datetime, service_time: timedelta) -> datetime:
        """The moment at which `service_time` of open time has passed since `start`."""
        if self.always and not self.closed and not self.holidays:
            return start + service_time
        left = service_time
        for opens, closes in self._spans_from(start):
            if closes - opens >= left:
                return (opens + left).astimezone(start.tzinfo)
            left -= closes - opens
        raise CalendarError(f"no open time within {_SEARCH_DAYS} days of {start.isoformat()}")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time between `start` and `end` (zero when `end` is not after `start`)."""
        if end <= start:
            return timedelta(0)
        if self.always and not self.closed and not self.holidays:
            return end - start
        total = timedelta(0)
        end = end.astimezone(UTC)
        for opens, closes in self._spans_from(start):
            if opens >= end:
                break
            total += min(closes, end) - opens
        return total


def _length(start: time, end: time) -> timedelta:
    ends = (
        timedelta(days=1) if end == _END_OF_DAY else timedelta(hours=end.hour, minutes=end.minute)
    )
    return ends - timedelta(hours=start.hour, minutes=start.minute)


def _merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching spans as one ("Mon-Fri 08:00-12:00, Mon-Fri 12:00-18:00")."""
    merged: list[tuple[datetime, datetime]] = []
    for opens, closes in spans:
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return merged
