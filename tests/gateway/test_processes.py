"""gateway/runtime/processes.py: child processes stopped with SIGTERM, then SIGKILL; a dead one
restarted as its row says, once it is gone; the parser stage's starts on demand."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from gateway.runtime import services
from gateway.runtime.processes import (
    OnDemand,
    Spawned,
    restart_if_dead,
    stop_process,
    wait_until_gone,
)


def sleeper(ignore_sigterm: bool = False) -> Spawned:
    """A child that sleeps a minute, once it has set its signal handlers."""
    code = (
        "import signal, sys, time\n"
        f"if {ignore_sigterm}: signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    popen = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert popen.stdout is not None and popen.stdout.readline() == b"ready\n"
    popen.stdout.close()
    return Spawned(popen)


def test_stop_process_asks_with_sigterm_first() -> None:
    child = sleeper()
    assert stop_process(child, timeout=10, name="sleeper") is False
    assert child.exitcode == -15


def test_stop_process_kills_what_does_not_stop(caplog: pytest.LogCaptureFixture) -> None:
    child = sleeper(ignore_sigterm=True)
    started = time.monotonic()
    assert stop_process(child, timeout=0.5, name="sleeper", ask_every=0.1) is True
    assert 0.5 <= time.monotonic() - started < 5
    assert child.exitcode == -9
    assert "sleeper.killed timeout=0.5" in caplog.text


def test_wait_until_gone_waits_for_a_running_process_only() -> None:
    child = sleeper()
    started = time.monotonic()
    assert child.pid is not None
    wait_until_gone(child.pid, 0.3)
    assert time.monotonic() - started >= 0.3
    child.kill()
    child.join()
    started = time.monotonic()
    wait_until_gone(child.pid, 10)
    assert time.monotonic() - started < 1


def test_a_dead_process_is_restarted_as_its_row_says(caplog: pytest.LogCaptureFixture) -> None:
    child = sleeper()
    restarted: list[int | None] = []
    assert not restart_if_dead(services.named("worker"), child, lambda c: restarted.append(c.pid))
    child.kill()
    child.join()
    assert restart_if_dead(services.named("worker"), child, lambda c: restarted.append(c.pid))
    assert restarted == [child.pid]
    assert "worker.died exit_code=-9" in caplog.text
    on_demand = services.named("parse-ahead")  # started again only when work asks for it
    assert not restart_if_dead(on_demand, child, lambda c: restarted.append(c.pid))


def test_an_on_demand_process_waits_after_a_failure() -> None:
    started: list[Spawned] = []

    def start() -> Spawned:
        started.append(sleeper())
        return started[-1]

    stage = OnDemand(services.named("parse-ahead"), start, restart_after=0.5)
    assert stage.start() and stage.start() and len(started) == 1  # one at a time
    stage.failed()
    stage.stop(timeout=5)
    assert started[0].exitcode == -9
    assert not stage.start() and not stage.running()  # not at once
    time.sleep(0.5)
    assert stage.start() and len(started) == 2
    started[1].terminate()  # as if its end of file had ended it
    stage.stop(timeout=5)
    assert not stage.running()
