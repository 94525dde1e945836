"""Supervision by the process table (gateway/runtime/services.py).

`Supervisor` is the daemon's: it runs the timers and tasks of the daemon's rows on its asyncio
loop, starts the parts it is handed (the SMTP port, the IMAP readers, the worker's handle),
restarts what ends as its row's policy says, and stops everything in row order. The threads of
the other rows are made of the helpers here: `Threads` (threads that run with
`run_with_backoff`, started again should one die; the IMAP readers) and `Loops` (the worker's
processor, outbox and service requests). The processes' helpers are in processes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from gateway.logs import log_event
from gateway.runtime.services import Kind, Service, lowered_by, table

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from gateway.config import Config

log = logging.getLogger("gateway.supervisor")
T = TypeVar("T")

FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 60.0
POOL = "blocking"  # the row of the supervisor's own thread pool
POOL_THREADS = 4


class Backoff:
    """Waits that double after each failure, from `first` up to `longest`."""

    def __init__(
        self, first: float = FIRST_RETRY_SECONDS, longest: float = LONGEST_RETRY_SECONDS
    ) -> None:
        self.first, self.longest = first, longest
        self._next = first

    def next(self) -> float:
        wait, self._next = self._next, min(self._next * 2, self.longest)
        return wait

    def reset(self) -> None:
        self._next = self.first


# What to wait after a failure, in seconds; None: the backoff's next wait. It logs the failure
# too: only it knows which are expected (a server down) and which are bugs.
RetryAfter = Callable[[Exception], float | None]


def run_with_backoff(
    attempt: Callable[[], None],
    stop: threading.Event,
    retry_after: RetryAfter,
    backoff: Backoff | None = None,
) -> None:
    """Run `attempt` again and again until `stop` is set; after a failure, wait as `retry_after`
    says; after a success, the backoff starts over."""
    backoff = backoff or Backoff()
    while not stop.is_set():
        try:
            attempt()
        except Exception as exc:  # a bug must not end the service for good; logged and retried
            wait = retry_after(exc)
            stop.wait(backoff.next() if wait is None else wait)
        else:
            backoff.reset()


def lower_priority(by: int) -> None:
    """Of the calling thread only: on Linux a thread has a niceness of its own."""
    if by <= 0:
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):  # a platform without it: the same work, in another order
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(current + by, 19))


class Threads:
    """The threads of one THREAD row (an IMAP reader per mailbox, say): each runs its attempt
    with `run_with_backoff` at the row's niceness until `stop`; one that died all the same (a
    BaseException) is started again by `restart_dead`."""

    def __init__(self, row: Service, stopping: threading.Event | None = None) -> None:
        self.row = row
        self.stopping = stopping or threading.Event()
        self._threads: dict[str, tuple[threading.Thread, Callable[[], None]]] = {}

    def start(
        self,
        name: str,
        attempt: Callable[[], None],
        retry_after: RetryAfter,
        ended: Callable[[], None] = lambda: None,  # in the thread, as it ends
    ) -> None:
        self._spawn(name, functools.partial(self._run, attempt, retry_after, ended))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads[name] = (thread, target)

    def _run(
        self, attempt: Callable[[], None], retry_after: RetryAfter, ended: Callable[[], None]
    ) -> None:
        lower_priority(lowered_by(self.row))
        try:
            run_with_backoff(attempt, self.stopping, retry_after)
        finally:
            ended()

    def restart_dead(self) -> list[str]:
        """Start again the threads that died; their names."""
        if self.stopping.is_set():
            return []
        dead = [name for name, (thread, _) in self._threads.items() if not thread.is_alive()]
        for name in dead:
            log_event(log, "service.restarted", level=logging.ERROR, service=self.row.name,
                      thread=name)  # fmt: skip
            self._spawn(name, self._threads[name][1])
        return dead

    def stop(self, timeout: float | None = 10.0) -> None:
        """Until each thread ends, or `timeout` passes (None: for as long as they take)."""
        self.stopping.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread, _ in self._threads.values():
            thread.join(None if deadline is None else max(deadline - time.monotonic(), 0.1))


Step = Callable[[], int]  # one unit of work; how much it did (0: nothing left)


class Loops:
    """The THREAD rows of one process (the worker's processor, outbox and service requests):
    each runs its step while the step finds work, then sleeps until woken or for its row's
    `every`. A round that fails is told to `failed` and the next round begins: the round's own
    sleep is the wait before it."""

    def __init__(
        self,
        where: str,
        stopping: threading.Event,
        failed: Callable[[Service, Exception], None],
        idle: Callable[[], None] = lambda: None,  # after a round that did work
    ) -> None:
        self.rows = [row for row in table() if row.where == where and row.kind is Kind.THREAD]
        self.stopping = stopping
        self._failed = failed
        self._idle = idle
        self._threads: list[Threads] = []

    def start(self, steps: Mapping[str, tuple[Step, threading.Event]]) -> None:
        names = [row.name for row in self.rows]
        if set(steps) != set(names):
            raise ValueError(f"steps {sorted(steps)} are not the rows {sorted(names)}")
        for row in self.rows:
            step, wanted = steps[row.name]
            threads = Threads(row, self.stopping)
            round_ = functools.partial(self._round, row, step, wanted)
            threads.start(row.name, round_, functools.partial(self._retry_after, row))
            self._threads.append(threads)

    def _round(self, row: Service, step: Step, wanted: threading.Event) -> None:
        assert isinstance(row.every, float), f"{row.name}: a loop sleeps for a set time"
        wanted.wait(row.every)
        wanted.clear()
        worked = False
        while not self.stopping.is_set() and step():
            worked = True
        if worked:
            self._idle()

    def _retry_after(self, row: Service, exc: Exception) -> float:
        self._failed(row, exc)
        return 0.0

    def restart_dead(self) -> list[str]:
        return [name for threads in self._threads for name in threads.restart_dead()]

    def stop(self) -> None:
        """In row order; the steps were woken, and each finishes its round."""
        for threads in self._threads:
            threads.stop(timeout=None)


Work = Callable[[], Awaitable[None]]


@runtime_checkable
class Part(Protocol):
    """What the supervisor starts and stops for a row that it does not run itself: a server, or
    the handle of threads or of a process. A THREAD or PROCESS row's part starts and stops in
    the thread pool (its forks and joins block); a TASK row's on the loop, awaited if async."""

    def start(self) -> Any: ...

    def stop(self) -> Any: ...


class Supervisor:
    """The daemon's rows of the table: timers (APScheduler jobs) and tasks run here and are
    restarted as their rows say; parts are started when handed over; all stop in row order."""

    def __init__(
        self, config: Config, where: str = "daemon", rows: Sequence[Service] | None = None
    ) -> None:
        self.config = config
        self.stopping = False
        self._rows = {row.name: row for row in rows or table() if row.where == where}
        self._executor = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="gateway")
        self._stops: dict[str, Callable[[], Awaitable[None]]] = {POOL: self._stop_pool}
        self._runs: dict[str, set[asyncio.Task[None]]] = defaultdict(set)
        self._background: set[asyncio.Task[Any]] = set()
        self._scheduler: AsyncIOScheduler | None = None

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))

    def runs(self, name: str) -> bool:
        """Whether the row runs with the config."""
        return self._rows[name].when(self.config)

    async def start(self, name: str, body: Work | Part) -> None:
        row = self._rows[name]
        if not row.when(self.config):
            return
        if isinstance(body, Part):
            await self._call(row, body.start)
            self._stops[name] = functools.partial(self._call, row, body.stop)
        elif row.kind is Kind.TIMER:
            self._start_timer(row, body)
        elif row.kind is Kind.TASK:
            self._start_task(row, body, Backoff())
        else:
            raise TypeError(f"{name}: a {row.kind.value} row is started from a Part")

    async def restart(self, name: str, part: Part) -> None:
        """`part` in place of the row's running one (SIGHUP changed what it reads)."""
        await self._stop_row(name)
        if not self.stopping:
            await self.start(name, part)

    def in_background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Work the stop waits for before it stops any row (a reload's)."""
        if self.stopping:
            work.close()
            return
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        self.stopping = True
        while self._background:
            for result in await asyncio.gather(*self._background, return_exceptions=True):
                if isinstance(result, Exception):
                    log.error("service.background_failed", exc_info=result)
        for name in self._rows:
            await self._stop_row(name)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)

    async def _stop_row(self, name: str) -> None:
        stop = self._stops.pop(name, None)
        try:
            if stop is not None:
                await stop()
        except Exception:  # the rows below still stop
            log.exception("service.stop_failed service=%s", name)

    async def _call(self, row: Service, method: Callable[[], Any]) -> None:
        if row.kind in (Kind.THREAD, Kind.PROCESS):
            await self.run_blocking(method)
            return
        result = method()
        if inspect.isawaitable(result):
            await result

    async def _stop_pool(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    # --- timers ---

    def _start_timer(self, row: Service, work: Work) -> None:
        if self._scheduler is None:
            from apscheduler.schedulers.asyncio import AsyncIOScheduler

            self._scheduler = AsyncIOScheduler()
            self._scheduler.start()
        run = self._timed(row.name, work)
        seconds = row.seconds(self.config)
        self._scheduler.add_job(run, "interval", seconds=seconds, id=row.name, name=row.name)
        if row.at_start:
            self._scheduler.add_job(run, id=f"{row.name}@start", name=row.name)  # once, now
        self._stops[row.name] = functools.partial(self._stop_timer, row.name)

    def _timed(self, name: str, work: Work) -> Work:
        """A timer's run that the stop waits for, and that does nothing once the stop began.
        Without it, a run at the stop (the worker check every 5 s) went on beside it: its
        blocking call was cancelled with the pool (a traceback in the log), or it took the
        stopping worker for one that died and started another."""

        async def run() -> None:
            if self.stopping:
                return
            task = asyncio.current_task()
            assert task is not None
            self._runs[name].add(task)
            try:
                await work()
            finally:
                self._runs[name].discard(task)

        return run

    async def _stop_timer(self, name: str) -> None:
        """Its job removed, not the scheduler shut down, while a run finishes: APScheduler's
        shutdown cancels the tasks of running jobs (a traceback, a notice half sent)."""
        from apscheduler.jobstores.base import JobLookupError

        assert self._scheduler is not None
        for job in (name, f"{name}@start"):
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(job)
        await asyncio.gather(*self._runs.pop(name, set()))

    # --- tasks ---

    def _start_task(self, row: Service, work: Work, backoff: Backoff) -> None:
        task = asyncio.create_task(self._coroutine(work), name=row.name)
        ended = functools.partial(self._task_ended, row, work, backoff, time.monotonic())
        task.add_done_callback(ended)
        self._stops[row.name] = functools.partial(self._stop_task, task)

    @staticmethod
    async def _coroutine(work: Work) -> None:
        await work()

    def _task_ended(
        self, row: Service, work: Work, backoff: Backoff, started: float, task: asyncio.Task[None]
    ) -> None:
        if self.stopping or task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("service.failed service=%s", row.name, exc_info=error)
        else:
            log_event(log, "service.ended", service=row.name)
        if not row.restarts(failed=error is not None):
            self._stops.pop(row.name, None)
            return
        if time.monotonic() - started > backoff.longest:
            backoff.reset()  # it ran well for a while: this failure is a new one
        loop = asyncio.get_running_loop()
        later = loop.call_later(backoff.next(), self._start_task, row, work, backoff)
        self._stops[row.name] = functools.partial(self._cancel, later)

    @staticmethod
    async def _stop_task(task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    @staticmethod
    async def _cancel(later: asyncio.TimerHandle) -> None:
        later.cancel()
