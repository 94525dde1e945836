"""Alerts when intake stalls: each problem is told to the admin-agents once when it starts and
once when it is over ("resolved"), not at every check.

The daemon gathers the facts at each check (when each mailbox last succeeded, how often the
worker died lately, how the outbox grew, the free disk); `problems` says which problems hold
now, and `changes` compares them with those raised before. Pure: the caller passes `now` and
keeps the set of raised problems.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Facts:
    now: datetime
    mailbox_success: Mapping[str, datetime | None]  # mailbox -> last successful check
    started: datetime  # the daemon's start: a mailbox never checked counts from it
    worker_deaths: Sequence[datetime]  # recent deaths of the worker
    outbox_waiting: Sequence[tuple[datetime, int]]  # (when, mail waiting), oldest first
    free_bytes: Mapping[str, int]  # path -> free bytes where the daemon writes


@dataclass(frozen=True)
class Limits:
    stall_after: timedelta = timedelta(minutes=15)
    worker_deaths: int = 3  # within `worker_window`
    worker_window: timedelta = timedelta(minutes=10)
    outbox_growing_for: timedelta = timedelta(hours=1)
    min_free_bytes: int = 10**9


@dataclass(frozen=True)
class Problem:
    key: str  # stable: the same problem has the same key at every check
    text: str  # for the admin-agents
    # Of the daemon's own host (its worker, its disks), not of what daemons sharing a database
    # all see (the mailboxes, the outbox): only that daemon may say it is over.
    local: bool = False


def problems(facts: Facts, limits: Limits) -> list[Problem]:
    found = [*_stalled_mailboxes(facts, limits)]
    recent = [d for d in facts.worker_deaths if facts.now - d <= limits.worker_window]
    if len(recent) >= limits.worker_deaths:
        found.append(
            Problem(
                "worker-dying",
                f"the worker died {len(recent)} times in the last "
                f"{_minutes(limits.worker_window)}; the daemon's log says why",
                local=True,
            )
        )
    if _outbox_growing(facts, limits):
        found.append(
            Problem(
                "outbox-growing",
                f"outgoing mail has been piling up for {_minutes(limits.outbox_growing_for)} "
                f"({facts.outbox_waiting[-1][1]} waiting); see gatewayd outbox list",
            )
        )
    for path, free in sorted(facts.free_bytes.items()):
        if free < limits.min_free_bytes:
            found.append(
                Problem(f"disk:{path}", f"{path} has {free // 10**6} MB free, less than "
                        f"{limits.min_free_bytes // 10**6} MB", local=True)
            )  # fmt: skip
    return found


def _stalled_mailboxes(facts: Facts, limits: Limits) -> list[Problem]:
    stalled = []
    for name, success in sorted(facts.mailbox_success.items()):
        since = success or facts.started
        if facts.now - since >= limits.stall_after:
            when = f"since {success.isoformat()}" if success else "since the daemon started"
            stalled.append(Problem(f"mailbox:{name}", f"mailbox {name} has not been read {when}"))
    return stalled


def _outbox_growing(facts: Facts, limits: Limits) -> bool:
    """Mail waiting never fell over the whole period, never reached zero, and grew."""
    period = limits.outbox_growing_for
    window = [(at, n) for at, n in facts.outbox_waiting if facts.now - at <= period]
    if len(window) < 2 or facts.now - window[0][0] < period * 0.9:
        return False
    counts = [n for _, n in window]
    never_fell = all(later >= earlier for earlier, later in itertools.pairwise(counts))
    return counts[0] > 0 and never_fell and counts[-1] > counts[0]


@dataclass(frozen=True)
class Change:
    problem: Problem
    resolved: bool  # False: it starts now; True: it is over


def changes(raised: Mapping[str, Problem], now_holding: Sequence[Problem]) -> list[Change]:
    """What to tell: problems that start now, and raised ones that no longer hold."""
    holding = {p.key: p for p in now_holding}
    started = [Change(p, resolved=False) for key, p in holding.items() if key not in raised]
    over = [Change(p, resolved=True) for key, p in raised.items() if key not in holding]
    return started + over


def _minutes(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 and minutes >= 60 else f"{minutes} min"
