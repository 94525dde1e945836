"""The daemon's worker process (gateway/runtime/worker.py): started again when it dies, and never
outliving its daemon, even after kill -9."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from tests.e2e.conftest import Gateway, Sink, mail, wait_for


def worker_pid(gateway: Gateway) -> int | None:
    """The daemon's worker, as the daemon logged it when it started the newest one."""
    started = re.findall(r"worker\.started pid=(\d+)", gateway.log_text())
    return int(started[-1]) if started else None


def children(pid: int) -> dict[int, bytes]:
    """The processes whose parent is `pid`, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid == pid:
            found[int(entry.name)] = command
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_worker_that_dies_is_started_again(gateway: Gateway, sink: Sink) -> None:
    assert gateway.process is not None
    first = wait_for(lambda: worker_pid(gateway), 10, "the worker")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: "worker.died" in gateway.log_text(), 15, "the daemon to notice")
    second = wait_for(lambda: worker_pid(gateway) != first and worker_pid(gateway), 10, "a new one")
    assert alive(second)

    gateway.send(mail(sender="anna@fabrikam.example"))
    gateway.wait_for_tickets(1, timeout=20)
    sink.wait_for_mail("anna@fabrikam.example", timeout=20)


def test_the_worker_stops_when_its_daemon_is_killed(tmp_path: Path, sink: Sink) -> None:
    gateway = Gateway(tmp_path, sink)
    gateway.start()
    assert gateway.process is not None
    worker = wait_for(lambda: worker_pid(gateway), 10, "the worker")
    servers = [
        p for p, command in children(gateway.process.pid).items() if b"forkserver" in command
    ]
    assert len(servers) == 1  # the worker's fork server (gateway/runtime/forkserver.py)
    gateway.process.kill()  # the daemon alone, not its process group
    gateway.process.wait(10)
    wait_for(lambda: not alive(worker), 10, "the worker to stop")
    wait_for(lambda: not alive(servers[0]), 10, "the fork server to stop")
    assert "worker.daemon_gone" in gateway.log_text()


def test_signals_to_the_process_group_reload_and_stop_in_order(gateway: Gateway) -> None:
    """An admin's SIGHUP and systemd's stop reach the daemon, its worker and the fork server
    at once: the reload ends none of them, and the stop lets the worker finish."""
    assert gateway.process is not None
    worker = wait_for(lambda: worker_pid(gateway), 10, "the worker")
    wait_for(lambda: "worker.running" in gateway.log_text(), 10, "the worker to run")
    os.killpg(gateway.process.pid, signal.SIGHUP)
    wait_for(lambda: "config.reloaded" in gateway.log_text(), 10, "the reload")
    assert alive(worker) and worker_pid(gateway) == worker
    assert any(b"forkserver" in command for command in children(gateway.process.pid).values())

    os.killpg(gateway.process.pid, signal.SIGTERM)
    assert gateway.process.wait(30) == 0
    wait_for(lambda: not alive(worker), 10, "the worker to stop")
    log = gateway.log_text()
    assert "worker.stopped" in log and "worker.daemon_gone" not in log


def test_a_new_worker_waits_for_the_old_one_when_the_fork_server_died(
    gateway: Gateway, sink: Sink
) -> None:
    """The daemon learns of its worker's exit through the fork server: with the server killed
    (the OOM killer), the worker seems gone but may run on. Two workers would send one mail
    twice on SQLite, so the new one starts only once the old one has ended."""
    assert gateway.process is not None
    old = wait_for(lambda: worker_pid(gateway), 10, "the worker")
    wait_for(lambda: "worker.running" in gateway.log_text(), 10, "the worker to run")
    server = next(p for p, cmd in children(gateway.process.pid).items() if b"forkserver" in cmd)
    os.kill(old, signal.SIGSTOP)  # the old worker cannot end until it is let go on
    try:
        os.kill(server, signal.SIGKILL)
        wait_for(lambda: "worker.died" in gateway.log_text(), 15, "the daemon to notice")
        time.sleep(2)  # a fork server is started again and a worker forked well within this
        assert worker_pid(gateway) == old and alive(old)
    finally:
        os.kill(old, signal.SIGCONT)
    wait_for(lambda: not alive(old), 10, "the old worker to end")
    new = wait_for(lambda: worker_pid(gateway) != old and worker_pid(gateway), 15, "a new one")
    assert alive(new)

    gateway.send(mail(sender="anna@fabrikam.example"))
    gateway.wait_for_tickets(1, timeout=20)
    sink.wait_for_mail("anna@fabrikam.example", timeout=20)
