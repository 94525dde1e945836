"""SLA clocks: when a ticket's first response and resolution fall due, counted in its plan's
service time and paused while the ticket waits on the customer (and, where the plan says so,
on Microsoft or the provider).

A clock runs from the ticket's opening until it stops (the first answer that reached the
customer; the ticket closed). Its target is an amount of service time in which it is not
paused. Pure: the caller passes the ticket's status history and `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from routing.calendar import ServiceCalendar

WAITING_CUSTOMER, WAITING_UPSTREAM = "waiting_customer", "waiting_upstream"


@dataclass(frozen=True)
class Clock:
    due: datetime  # while paused: as if the pause ended now
    met: bool  # stopped in time
    breached: bool  # stopped late, or still running past `due`
    paused: bool  # paused now
    left: timedelta  # service time left before `due` (zero once breached or stopped)


def paused_spans(
    history: Sequence[tuple[datetime, str]], now: datetime, upstream_pauses: bool
) -> list[tuple[datetime, datetime]]:
    """The spans in which the ticket waited: from each change into a waiting status to the next
    change out of it (or `now`). `history`: (when, new status), oldest first."""
    waiting = {WAITING_CUSTOMER} | ({WAITING_UPSTREAM} if upstream_pauses else set())
    spans, since = [], None
    for at, status in history:
        if status in waiting and since is None:
            since = at
        elif status not in waiting and since is not None:
            spans.append((since, at))
            since = None
    if since is not None:
        spans.append((since, max(since, now)))
    return spans


def clock(
    calendar: ServiceCalendar,
    opened: datetime,
    target: timedelta,
    pauses: Sequence[tuple[datetime, datetime]],
    stopped: datetime | None,
    now: datetime,
) -> Clock:
    """The state of one clock at `now`. `stopped`: when its goal was reached, if it was."""
    end = stopped or now
    left, start = target, opened  # service time still to run; where the running span began
    for pause_start, pause_end in sorted(pauses):
        if pause_start >= end:
            break
        active = calendar.elapsed(start, pause_start)
        if active >= left:
            break  # due before this pause began
        left -= active
        start = max(start, pause_end)
    due = calendar.due(start, left)
    late = end > due
    paused_now = stopped is None and any(a <= now <= b for a, b in pauses)
    remaining = timedelta(0) if stopped or late else calendar.elapsed(now, due)
    return Clock(due, stopped is not None and not late, late, paused_now, remaining)
