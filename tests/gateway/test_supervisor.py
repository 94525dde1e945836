"""gateway/runtime/supervisor.py: restarts with a backoff, dead threads started again, the
worker's loops, and the daemon's supervisor, which runs timers and tasks and stops everything in
row order. (The daemon itself is tested end to end in tests/e2e.)"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable

import pytest

from gateway.config import Config
from gateway.runtime import services, supervisor
from gateway.runtime.services import Kind, Restart, Service
from gateway.runtime.supervisor import Backoff, Loops, Supervisor, Threads, run_with_backoff

# --- restarts with a backoff ---


def test_the_backoff_doubles_up_to_its_longest_and_starts_over() -> None:
    backoff = Backoff(1, 5)
    assert [backoff.next() for _ in range(5)] == [1, 2, 4, 5, 5]
    backoff.reset()
    assert backoff.next() == 1


def test_an_attempt_is_run_again_after_a_failure_with_the_wait_it_asks_for() -> None:
    stop, outcomes = threading.Event(), [ValueError("one"), KeyError("two"), None, None]
    waits: list[str] = []

    def attempt() -> None:
        outcome = outcomes.pop(0)
        if not outcomes:
            stop.set()
        if outcome:
            raise outcome

    def retry_after(exc: Exception) -> float | None:
        waits.append(type(exc).__name__)
        return 0.0 if isinstance(exc, ValueError) else None  # None: the backoff's

    started = time.monotonic()
    run_with_backoff(attempt, stop, retry_after, Backoff(0.2, 1))
    assert waits == ["ValueError", "KeyError"]
    assert 0.2 <= time.monotonic() - started < 1.5


def test_a_stop_ends_the_wait_after_a_failure() -> None:
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    run_with_backoff(lambda: 1 / 0, stop, lambda exc: 30.0)  # type: ignore[func-returns-value]
    assert time.monotonic() - started < 5


# --- threads ---

ROW = Service("imap-reader", Kind.THREAD, "daemon", 3, Restart.ALWAYS, "a test")


def test_a_dead_thread_is_started_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However it died (run_with_backoff outlived, here: each thread runs its attempt once)."""
    monkeypatch.setattr(supervisor, "run_with_backoff", lambda attempt, *_: attempt())
    runs: list[str] = []
    threads = Threads(ROW)

    def attempt() -> None:
        runs.append(threading.current_thread().name)
        if len(runs) > 1:
            threads.stopping.wait()

    threads.start("reader-1", attempt, lambda exc: 0.0)
    deadline = time.monotonic() + 5
    while threads._threads["reader-1"][0].is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert threads.restart_dead() == ["reader-1"]
    assert threads.restart_dead() == []  # alive again
    threads.stop()
    assert runs == ["reader-1", "reader-1"]
    assert "service.restarted service=imap-reader thread=reader-1" in caplog.text


def test_threads_run_below_their_process_and_tidy_up_in_the_thread() -> None:
    seen: dict[str, object] = {}
    threads = Threads(ROW)

    def attempt() -> None:
        seen["niceness"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        threads.stopping.wait()

    def ended() -> None:
        seen["ended in"] = threading.current_thread().name

    threads.start("reader-1", attempt, lambda exc: 0.0, ended)
    time.sleep(0.1)
    threads.stop()
    assert seen == {"niceness": min(os.nice(0) + 3, 19), "ended in": "reader-1"}
    assert threads.restart_dead() == []  # stopped: none is started again


def test_the_worker_s_loops_run_their_steps_until_no_work_is_left() -> None:
    stopping = threading.Event()
    events = {row.name: threading.Event() for row in Loops("worker", stopping, print).rows}
    work = {"processor": [3, 2, 0], "outbox": [1, 0], "service-requests": [0]}
    idle: list[str] = []

    def step(name: str) -> Callable[[], int]:
        return lambda: work[name].pop(0) if work[name] else 0

    loops = Loops("worker", stopping, print, idle=lambda: idle.append("trim"))
    loops.start({name: (step(name), event) for name, event in events.items()})
    for event in events.values():
        event.set()
    deadline = time.monotonic() + 5
    while any(work.values()):
        assert time.monotonic() < deadline, work
        time.sleep(0.01)
    stopping.set()
    for event in events.values():
        event.set()
    loops.stop()
    assert idle == ["trim", "trim"]  # after the processor's and the outbox's rounds


def test_a_failed_round_is_told_and_the_loop_goes_on() -> None:
    stopping, failures = threading.Event(), []
    wanted = {name: threading.Event() for name in ("processor", "outbox", "service-requests")}
    rounds: list[int] = []

    def failing() -> int:
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("a bug")
        return 0

    loops = Loops("worker", stopping, lambda row, exc: failures.append((row.name, str(exc))))
    loops.start({name: (failing if name == "outbox" else lambda: 0, event)
                 for name, event in wanted.items()})  # fmt: skip
    wanted["outbox"].set()
    time.sleep(0.1)
    wanted["outbox"].set()
    deadline = time.monotonic() + 5
    while len(rounds) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stopping.set()
    for event in wanted.values():
        event.set()
    loops.stop()
    assert failures == [("outbox", "a bug")]


def test_loops_are_the_rows_of_their_process() -> None:
    loops = Loops("worker", threading.Event(), print)
    with pytest.raises(ValueError, match="not the rows"):
        loops.start({"processor": (lambda: 0, threading.Event())})


# --- the daemon's supervisor ---


def row(name: str, kind: Kind, restart: Restart = Restart.ALWAYS, **more: object) -> Service:
    return Service(name, kind, "daemon", 0, restart, "a test", **more)  # type: ignore[arg-type]


class Recorded:
    """A part that notes its start and stop."""

    def __init__(self, name: str, notes: list[str]) -> None:
        self.name, self.notes = name, notes

    def start(self) -> None:
        self.notes.append(f"start {self.name}")

    def stop(self) -> None:
        self.notes.append(f"stop {self.name}")


def test_the_stop_waits_for_a_running_timer_and_starts_none(config: Config) -> None:
    calls: list[str] = []
    daemon = Supervisor(config)

    async def check() -> None:
        calls.append("started")
        await asyncio.sleep(0.2)
        calls.append("finished")

    async def scenario() -> None:
        await daemon.start("worker-check", check)
        run = daemon._timed("worker-check", check)  # as the scheduler fires it
        running = asyncio.create_task(run())
        await asyncio.sleep(0.05)
        await daemon.stop()
        calls.append("stopped")
        await run()  # fired by the scheduler after the stop began
        await running

    asyncio.run(scenario())
    assert calls == ["started", "finished", "stopped"]


def test_everything_stops_in_row_order_whatever_the_start_order(config: Config) -> None:
    notes: list[str] = []
    rows = [row("a", Kind.TASK), row("b", Kind.THREAD), row("c", Kind.PROCESS), row("d", Kind.TASK)]
    daemon = Supervisor(config, rows=[*rows, services.named("blocking")])

    async def scenario() -> None:
        for name in ("c", "a", "d", "b"):
            await daemon.start(name, Recorded(name, notes))
        await daemon.stop()

    asyncio.run(scenario())
    assert notes == ["start c", "start a", "start d", "start b", "stop a", "stop b", "stop c",
                     "stop d"]  # fmt: skip


def test_a_row_that_does_not_run_with_the_config_is_not_started(config: Config) -> None:
    notes: list[str] = []
    never = dataclasses.replace(row("x", Kind.THREAD), when=lambda config: False)
    daemon = Supervisor(config, rows=[never, services.named("blocking")])

    async def scenario() -> None:
        assert not daemon.runs("x")
        await daemon.start("x", Recorded("x", notes))
        await daemon.stop()

    asyncio.run(scenario())
    assert notes == []


def test_a_failed_task_is_restarted_after_a_backoff(
    config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(supervisor, "FIRST_RETRY_SECONDS", 0.05)
    runs: list[float] = []
    daemon = Supervisor(config, rows=[row("t", Kind.TASK), services.named("blocking")])

    async def fails_twice() -> None:
        runs.append(time.monotonic())
        if len(runs) <= 2:
            raise RuntimeError("a bug")
        await asyncio.sleep(60)

    async def scenario() -> None:
        await daemon.start("t", fails_twice)
        while len(runs) < 3:
            await asyncio.sleep(0.01)
        await daemon.stop()

    asyncio.run(scenario())
    assert runs[1] - runs[0] >= 0.04 and runs[2] - runs[1] >= 0.09  # 0.05 s, then 0.1 s
    assert caplog.text.count("service.failed service=t") == 2


def test_a_task_that_ends_is_restarted_only_as_its_policy_says(config: Config) -> None:
    runs: list[str] = []
    rows = [row("once", Kind.TASK, Restart.ON_FAILURE), row("never", Kind.TASK, Restart.NEVER)]
    daemon = Supervisor(config, rows=[*rows, services.named("blocking")])

    async def scenario() -> None:
        async def ends() -> None:
            runs.append("ended")

        async def fails() -> None:
            runs.append("failed")
            raise RuntimeError("a bug")

        await daemon.start("once", ends)
        await daemon.start("never", fails)
        await asyncio.sleep(1.5)  # well past a first restart's wait
        await daemon.stop()

    asyncio.run(scenario())
    assert sorted(runs) == ["ended", "failed"]


def test_a_timer_that_runs_at_the_start_runs_at_once(config: Config) -> None:
    at_start = row("poll", Kind.TIMER, every=3600.0, at_start=True)
    daemon = Supervisor(config, rows=[at_start, services.named("blocking")])
    runs: list[str] = []

    async def poll() -> None:
        runs.append("poll")

    async def scenario() -> None:
        await daemon.start("poll", poll)
        await asyncio.sleep(0.3)
        await daemon.stop()

    asyncio.run(scenario())
    assert runs == ["poll"]


def test_a_part_is_replaced_by_a_restart(config: Config) -> None:
    notes: list[str] = []
    daemon = Supervisor(config, rows=[row("r", Kind.THREAD), services.named("blocking")])

    async def scenario() -> None:
        await daemon.start("r", Recorded("old", notes))
        await daemon.restart("r", Recorded("new", notes))
        await daemon.stop()
        await daemon.restart("r", Recorded("late", notes))  # after the stop: not started

    asyncio.run(scenario())
    assert notes == ["start old", "stop old", "start new", "stop new"]


def test_a_part_that_fails_to_stop_leaves_the_others_stopping(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    notes: list[str] = []

    class Stuck(Recorded):
        def stop(self) -> None:
            raise OSError("stuck")

    daemon = Supervisor(config, rows=[row("a", Kind.TASK), row("b", Kind.TASK),
                                      services.named("blocking")])  # fmt: skip

    async def scenario() -> None:
        await daemon.start("a", Stuck("a", notes))
        await daemon.start("b", Recorded("b", notes))
        with caplog.at_level(logging.ERROR):
            await daemon.stop()

    asyncio.run(scenario())
    assert notes == ["start a", "start b", "stop b"]
    assert "service.stop_failed service=a" in caplog.text


def test_a_thread_row_needs_a_part(config: Config) -> None:
    daemon = Supervisor(config, rows=[row("r", Kind.THREAD), services.named("blocking")])

    async def scenario() -> None:
        async def body() -> None:
            pass

        with pytest.raises(TypeError, match="started from a Part"):
            await daemon.start("r", body)
        await daemon.stop()

    asyncio.run(scenario())
