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
CLOSED = "closed"


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


@dataclass(frozen=True)
class TicketFacts:
    """What a ticket's clocks are computed from."""

    opened: datetime
    priority: str
    history: tuple[tuple[datetime, str], ...]  # (when, new status), oldest first
    first_answer: datetime | None  # the first agent answer sent to the customer
    closed: datetime | None  # when it was closed, if it is closed now


@dataclass(frozen=True)
class TicketSla:
    first_response: Clock | None  # None: the plan has no such target
    resolution: Clock | None
    paused: timedelta  # service time in which the clocks stood still

    @property
    def breached(self) -> bool:
        return any(c is not None and c.breached for c in (self.first_response, self.resolution))

    def running(self) -> list[Clock]:
        """The clocks still counting (not stopped, not breached)."""
        return [
            c
            for c in (self.first_response, self.resolution)
            if c is not None and not c.met and not c.breached
        ]


def ticket_sla(
    calendar: ServiceCalendar,
    targets: tuple[timedelta | None, timedelta | None],
    upstream_pauses: bool,
    ticket: TicketFacts,
    now: datetime,
) -> TicketSla:
    """Both clocks of a ticket at `now`. First response stops at the first answer (or a close
    before it); resolution stops at the last close and stands still while the ticket is
    closed (a reopened ticket goes on where it stopped)."""
    first_target, resolution_target = targets
    waits = paused_spans(ticket.history, now, upstream_pauses)
    closed_spans = _closed_spans(ticket.history)
    first = resolution = None
    if first_target is not None:
        # A ticket closed without an answer (the customer solved it) needs none any more.
        stops = [at for at in (ticket.first_answer, ticket.closed) if at is not None]
        first = clock(calendar, ticket.opened, first_target, waits, min(stops, default=None), now)
    if resolution_target is not None:
        pauses = _union([*waits, *closed_spans])
        resolution = clock(calendar, ticket.opened, resolution_target, pauses, ticket.closed, now)
    end = ticket.closed or now
    paused = sum(
        (calendar.elapsed(a, min(b, end)) for a, b in waits if a < end), start=timedelta(0)
    )
    return TicketSla(first, resolution, paused)


def _closed_spans(history: Sequence[tuple[datetime, str]]) -> list[tuple[datetime, datetime]]:
    """Spans between a close and the reopening after it; the last close stops the clock."""
    spans, since = [], None
    for at, status in history:
        if status == CLOSED and since is None:
            since = at
        elif status != CLOSED and since is not None:
            spans.append((since, at))
            since = None
    return spans


def _union(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
