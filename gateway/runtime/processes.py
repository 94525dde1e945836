"""The helpers by which child processes are supervised as their rows of the process table
(gateway/runtime/services.py) say: the worker's handle (gateway/runtime/worker_process.py)
restarts a dead worker with `restart_if_dead` after `wait_until_gone`, and stops it with
`stop_process`; the parser stage (gateway/runtime/parse_ahead.py) is `OnDemand`.

Free of asyncio and the rest of the daemon's imports: the parser stage's own process imports
this module, and starts on few imports.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from gateway.logs import log_event
from gateway.runtime.services import Service

log = logging.getLogger("gateway.supervisor")


class Child(Protocol):
    """A child process as multiprocessing.Process shows it."""

    @property
    def pid(self) -> int | None: ...

    @property
    def exitcode(self) -> int | None: ...

    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class Spawned:
    """A subprocess.Popen with multiprocessing.Process's verbs."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen

    @property
    def pid(self) -> int | None:
        return self.popen.pid

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)

    def terminate(self) -> None:
        self.popen.terminate()

    def kill(self) -> None:
        self.popen.kill()


def wait_until_gone(pid: int, timeout: float) -> None:
    """Until no process `pid` runs (gone, or a zombie nobody reaps), or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state == "Z":
            return
        time.sleep(0.01)


def stop_process(
    child: Child, timeout: float, name: str, terminate: bool = True, ask_every: float = 1.0
) -> bool:
    """Ask `child` to stop and kill it if it has not within `timeout`; True if it was killed.
    SIGTERM is sent again every `ask_every` seconds: a process just forked may not have set its
    handler yet, and one sent then is lost. Without `terminate` it was asked some other way
    (the end of file on its pipe), and is waited for."""
    deadline = time.monotonic() + timeout
    while child.is_alive() and time.monotonic() < deadline:
        if terminate:
            child.terminate()
        child.join(min(ask_every, max(deadline - time.monotonic(), 0)))
    if not child.is_alive():
        return False
    log_event(log, f"{name}.killed", level=logging.ERROR, timeout=timeout)
    child.kill()
    child.join()
    return True


def restart_if_dead(row: Service, child: Child | None, restart: Callable[[Child], None]) -> bool:
    """If `child`, the process of `row`, died: log it and, as the row's policy says, call
    `restart` with it (which tidies up after it and starts another). True if restarted."""
    if child is None or child.is_alive():
        return False
    log_event(log, f"{row.name}.died", level=logging.ERROR, exit_code=child.exitcode)
    if not row.restarts(failed=child.exitcode != 0):
        return False
    restart(child)
    return True


class OnDemand:
    """A process started when work asks for it (`Restart.ON_DEMAND`), like the parser stage;
    after a failure it is not started again for `restart_after` seconds, so that one that dies
    on some input does not cost a new interpreter on every request."""

    def __init__(self, row: Service, start: Callable[[], Child], restart_after: float) -> None:
        self.row = row
        self._start = start
        self._restart_after = restart_after
        self._child: Child | None = None
        self._failed_at = -restart_after

    @property
    def child(self) -> Child | None:
        return self._child

    def running(self) -> bool:
        return self._child is not None

    def start(self) -> bool:
        """Start it unless it runs or failed a short while ago; whether it runs now."""
        if self._child is None and time.monotonic() - self._failed_at >= self._restart_after:
            self._child = self._start()
        return self._child is not None

    def failed(self) -> None:
        self._failed_at = time.monotonic()
        if self._child is not None:
            self._child.kill()

    def stop(self, timeout: float) -> None:
        """It was asked to end (its end of file); killed after `timeout`."""
        if self._child is not None:
            stop_process(self._child, timeout, self.row.name, terminate=False)
        self._child = None
