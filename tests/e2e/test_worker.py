"""The daemon's worker process (gateway/worker.py): started again when it dies, and never
outliving its daemon, even after kill -9."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.e2e.conftest import Gateway, Sink, mail, wait_for


def worker_pid(daemon_pid: int) -> int | None:
    """The daemon's worker: its child started by multiprocessing (not the resource tracker)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid == daemon_pid and b"multiprocessing-fork" in command:
            return int(entry.name)
    return None


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_worker_that_dies_is_started_again(gateway: Gateway, sink: Sink) -> None:
    assert gateway.process is not None
    first = wait_for(lambda: worker_pid(gateway.process.pid), 10, "the worker")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: "worker.died" in gateway.log_text(), 15, "the daemon to notice")
    second = wait_for(lambda: worker_pid(gateway.process.pid), 10, "a new worker")
    assert second != first

    gateway.send(mail(sender="anna@fabrikam.example"))
    gateway.wait_for_tickets(1, timeout=20)
    sink.wait_for_mail("anna@fabrikam.example", timeout=20)


def test_the_worker_stops_when_its_daemon_is_killed(tmp_path: Path, sink: Sink) -> None:
    gateway = Gateway(tmp_path, sink)
    gateway.start()
    assert gateway.process is not None
    worker = wait_for(lambda: worker_pid(gateway.process.pid), 10, "the worker")
    gateway.process.kill()  # the daemon alone, not its process group
    gateway.process.wait(10)
    wait_for(lambda: not alive(worker), 10, "the worker to stop")
    assert "worker.daemon_gone" in gateway.log_text()
