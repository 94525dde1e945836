"""Service hours as customers read them ("Mon-Fri 08:00-18:00, Sat 10:00-14:00") → a test of
whether a moment falls inside them. Pure: the caller gives the moment, in the support's zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(
    r"^\s*(mon|tue|wed|thu|fri|sat|sun)\w*\s*(?:-\s*(mon|tue|wed|thu|fri|sat|sun)\w*)?\s+"
    r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Span:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time


def parse_hours(text: str) -> tuple[Span, ...] | None:
    """The spans of `text`, or None when it is not in the "Mon-Fri 08:00-18:00" form."""
    spans = []
    for part in text.split(","):
        match = _PART.match(part)
        if not match:
            return None
        first = _DAYS.index(match[1].lower())
        last = _DAYS.index(match[2].lower()) if match[2] else first
        days = (
            frozenset(range(first, last + 1))
            if first <= last
            else frozenset([*range(first, 7), *range(0, last + 1)])
        )
        start = time(int(match[3]), int(match[4]))
        hour, minute = int(match[5]), int(match[6])
        end = time(23, 59, 59) if (hour, minute) == (24, 0) else time(hour, minute)
        spans.append(Span(days, start, end))
    return tuple(spans)


def within(spans: tuple[Span, ...], moment: datetime) -> bool:
    """`moment` (local to the service hours) is inside one of the spans."""
    return any(
        moment.weekday() in span.days and span.start <= moment.time() < span.end for span in spans
    )
