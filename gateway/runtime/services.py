"""The process table: every process, thread, task and timer of a running gatewayd, one row each,
as Postfix's master.cf lists its servers.

A row says what the service is (`kind`), in which process it runs (`where`; for a process, the
one that starts it), its CPU niceness, its restart policy, and what wakes it. The supervisors read
it: the daemon's (gateway/runtime/supervisor.py, `Supervisor`) starts its timers and tasks from
their rows and restarts them as the row says; the worker's threads (`Loops`), the IMAP readers
(`Threads`), the worker's handle and the parser stage (`OnDemand`) take their intervals, niceness
and policy from theirs. `gatewayd services` prints the table; docs/ARCHITECTURE.md shows it.

Stop order is row order: each process's supervisor stops its own rows from the top down, so a
row stops before the rows below it that it uses (the SMTP listener before the group commit, the
worker check before the worker, everything before the thread pool it stops through).

Niceness is counted from the daemon's own: a process or thread adds the difference between its
row's and its `where` row's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import Config


class Kind(Enum):
    PROCESS = "process"
    THREAD = "thread"
    TASK = "task"  # a coroutine or server on the daemon's asyncio loop
    TIMER = "timer"  # an APScheduler job on that loop


class Restart(Enum):
    ALWAYS = "always"  # whenever it ends or fails (a timer: at its next interval)
    ON_FAILURE = "on-failure"  # when it failed; one that ended by itself is done
    NEVER = "never"  # it fails with its process
    ON_DEMAND = "on-demand"  # started when work asks for it; after a failure, a while later


def _always(config: Config) -> bool:
    return True


@dataclass(frozen=True)
class Service:
    name: str
    kind: Kind
    where: str
    niceness: int
    restart: Restart
    # What wakes it, in words, for the table; a set `every` adds its interval to them.
    wakes: str
    # Seconds between runs of a timer, or the longest a loop sleeps without a wake-up; a
    # function of the config where the config sets it.
    every: float | Callable[[Config], float] | None = None
    when: Callable[[Config], bool] = _always  # whether it runs with this config
    at_start: bool = False  # a timer that also runs once as the daemon starts

    def seconds(self, config: Config) -> float | None:
        return self.every(config) if callable(self.every) else self.every

    def restarts(self, failed: bool) -> bool:
        """Whether a supervisor starts it again at once after it ended."""
        return self.restart is Restart.ALWAYS or (failed and self.restart is Restart.ON_FAILURE)

    def as_json(self) -> dict[str, str | int]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "where": self.where,
            "niceness": self.niceness,
            "restart": self.restart.value,
            "wakes": self.woken_by(),
        }

    def woken_by(self) -> str:
        """`wakes`, with the interval of a set `every`: a timer's first, a loop's after."""
        if not isinstance(self.every, float):
            return self.wakes
        interval = f"every {_duration(self.every)}"
        if self.kind is Kind.TIMER:
            return ", ".join(filter(None, [interval, self.wakes]))
        return f"{self.wakes}, or {interval}"


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"


# Tests only (tests/e2e/test_plans.py): the ticket timers every N seconds instead, so that a test
# that moves the clock (gateway/clock.py) does not wait a minute for each step.
TIMERS_ENV = "GATEWAYD_TIMERS_SECONDS"
TIMERS_EVERY_SECONDS = 60.0


def _ticket_timers_every(config: Config) -> float:
    try:
        return max(0.5, float(os.environ.get(TIMERS_ENV, TIMERS_EVERY_SECONDS)))
    except ValueError:
        return TIMERS_EVERY_SECONDS


def _triages(config: Config) -> bool:
    return any(key == "intent" for rule in config.rules for key, _ in rule.when)


def _polls_microsoft(config: Config) -> bool:
    return config.microsoft.signs_in or config.microsoft.escalation == "partner_center"


def _syncs_customers(config: Config) -> bool:
    return bool(config.directory_settings.sync and config.directory_settings.file)


def _poll_every(config: Config) -> float:
    return config.microsoft.poll.total_seconds()


def _sync_every(config: Config) -> float:
    sync = config.directory_settings.sync
    return sync.total_seconds() if sync else 0.0


# Intake answers first. SMTP intake owes its clients a 250 and runs at the daemon's niceness; the
# worker runs at 5, so that in a flood it gets the smaller share and catches up afterwards; the
# IMAP readers at 10, below the worker: no sender waits for them (a message stays in the mailbox
# until its commit), and in a backlog the processor goes first (docs/PERFORMANCE.md).
SERVICES: tuple[Service, ...] = (
    Service("daemon", Kind.PROCESS, "systemd", 0, Restart.ON_FAILURE,
            "SIGTERM stops it, SIGHUP reloads the config"),
    # First to stop: a daemon that is stopping pings no more.
    Service("watchdog", Kind.TASK, "daemon", 0, Restart.ON_FAILURE,
            "every WatchdogSec / 2, under systemd"),
    Service("smtp", Kind.TASK, "daemon", 0, Restart.NEVER,
            "an SMTP client connecting", when=lambda config: config.smtp is not None),
    Service("mailbox-check", Kind.TIMER, "daemon", 0, Restart.ALWAYS,
            "", every=10.0),
    Service("ticket-timers", Kind.TIMER, "daemon", 0, Restart.ALWAYS,
            "every 60 s", every=_ticket_timers_every),
    # Before the worker: a check running at the stop would take the stopping worker for a dead
    # one and start another.
    Service("worker-check", Kind.TIMER, "daemon", 0, Restart.ALWAYS,
            "", every=5.0),
    Service("alert-check", Kind.TIMER, "daemon", 0, Restart.ALWAYS,
            "", every=10.0),
    Service("triage-train", Kind.TIMER, "daemon", 0, Restart.ALWAYS,
            "with rules on intents", every=24 * 3600.0, when=_triages),
    # At the start as well: service health and the sign-in should not wait a poll.
    Service("microsoft-poll", Kind.TIMER, "daemon", 0, Restart.ALWAYS,
            "at the start, then every microsoft.poll", every=_poll_every, when=_polls_microsoft,
            at_start=True),
    Service("customers-sync", Kind.TIMER, "daemon", 0, Restart.ALWAYS,
            "every directory.sync", every=_sync_every, when=_syncs_customers),
    Service("imap-reader", Kind.THREAD, "daemon", 10, Restart.ALWAYS,
            "IMAP IDLE, or every imap.poll (one per mailbox)"),
    Service("group-commit", Kind.TASK, "daemon", 0, Restart.ALWAYS,
            "a message an SMTP session received"),
    Service("worker", Kind.PROCESS, "daemon", 5, Restart.ALWAYS,
            "a wake-up byte on its pipe: mail stored, mail queued"),
    Service("fork-server", Kind.PROCESS, "daemon", 0, Restart.ON_DEMAND,
            "a worker to fork"),
    # Late: /healthz answers while the daemon stops.
    Service("metrics", Kind.THREAD, "daemon", 0, Restart.NEVER,
            "an HTTP request to [metrics] listen", when=lambda config: config.metrics is not None),
    # Last: the rows above start and stop through it.
    Service("blocking", Kind.THREAD, "daemon", 0, Restart.NEVER,
            "a run_blocking call (a pool of 4 threads)"),
    Service("processor", Kind.THREAD, "worker", 5, Restart.ALWAYS,
            "a wake-up byte (mail stored)", every=2.0),
    Service("outbox", Kind.THREAD, "worker", 5, Restart.ALWAYS,
            "a wake-up byte (mail queued)", every=1.0),
    Service("service-requests", Kind.THREAD, "worker", 5, Restart.ALWAYS,
            "a wake-up byte (mail queued)", every=1.0),
    # After the processor, which asks it for its batches.
    Service("parse-ahead", Kind.PROCESS, "worker", 5, Restart.ON_DEMAND,
            "a batch requested: a full one, on SQLite"),
)  # fmt: skip


def table() -> tuple[Service, ...]:
    return SERVICES


def named(name: str) -> Service:
    for row in SERVICES:
        if row.name == name:
            return row
    raise KeyError(name)


def lowered_by(row: Service) -> int:
    """How much lower than the process it runs in a service's CPU priority is."""
    return row.niceness - named(row.where).niceness if row.where != "systemd" else row.niceness
