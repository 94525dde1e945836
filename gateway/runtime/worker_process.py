"""The daemon's side of its worker process (gateway/runtime/worker.py): start it, wake it, send it
a new config, start it again when it died, stop it (as its row of gateway/runtime/services.py
says, with the helpers of gateway/runtime/processes.py).

Kept apart from the worker's own code so that the daemon does not import what only the worker
runs (the processor, the parsers, the templates): CPU at every start, before intake
(docs/PERFORMANCE.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any

from gateway.config import Config
from gateway.logs import log_event
from gateway.runtime import forkserver, services
from gateway.runtime.processes import Child, restart_if_dead, stop_process, wait_until_gone
from gateway.runtime.worker_stats import WorkerStats
from gateway.store.locks import IntakeSignal

log = logging.getLogger("gateway.worker")

PROCESS, DELIVER = b"p", b"d"  # the wake-ups
WORKER_GONE_SECONDS = 10.0  # the longest a new worker waits for one that may still run
WORKER = services.named("worker")


def _worker_main(*args: Any) -> None:
    """The process's target, by name: the fork server has the worker's code imported already."""
    from gateway.runtime.worker import main

    main(*args)


class WorkerProcess:
    """The daemon's handle on its worker. Wake-ups are single bytes on a non-blocking pipe, so
    they never block the event loop: a full pipe already holds a wake-up."""

    def __init__(self, config: Config, log_level: str) -> None:
        self._context = forkserver.CONTEXT
        self.intake = IntakeSignal(self._context)
        self.stats = WorkerStats(self._context)  # what /metrics reads of the worker's work
        self.deaths: list[float] = []  # time.time() of each death, for the alerts
        self._config = config  # the daemon's, never re-read from the file, which may have changed
        self._log_level = log_level
        self._process: Any = None
        self._pipe = -1
        self._configs: Any = None  # the sending end of a multiprocessing Pipe

    def start(self) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        configs, self._configs = self._context.Pipe(duplex=False)
        self._process = self._context.Process(
            target=_worker_main,
            args=(self._config, self._log_level, reader, configs, self.intake, self.stats),
            name="gatewayd-worker",
            daemon=True,  # should the daemon fail on its way out, the worker goes with it
        )
        self._process.start()
        reader.close()
        configs.close()
        self._pipe = os.dup(writer.fileno())
        writer.close()
        os.set_blocking(self._pipe, False)
        log_event(log, "worker.started", pid=self._process.pid)

    def wake_processing(self) -> None:
        self._send(PROCESS)

    def wake_delivery(self) -> None:
        self._send(DELIVER)

    def _send(self, byte: bytes) -> None:
        # A full pipe holds wake-ups already; a dead worker is started again by `check`.
        with contextlib.suppress(OSError):
            os.write(self._pipe, byte)

    def reload(self, config: Config) -> None:
        """Blocking (a large config fills the pipe until the worker reads it): run in a thread."""
        self._config = config
        with contextlib.suppress(OSError):  # a dead worker starts again with this config
            self._configs.send(config)

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def check(self) -> bool:
        """Start the worker again if it died (a bug, the OOM killer, an admin's kill); True
        if it did."""
        return restart_if_dead(WORKER, self._process, self._restart)

    def _restart(self, dead: Child) -> None:
        self.deaths.append(time.time())
        del self.deaths[:-100]
        self._close_pipe()
        # Its exit is learnt through the fork server: should the server be gone instead (the
        # OOM killer), the worker may still run. It ends on the pipe's end of file; a new one
        # starts only then, so that two workers never send the same mail (SQLite has no row
        # locks).
        if dead.pid is not None:
            wait_until_gone(dead.pid, WORKER_GONE_SECONDS)
        self.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the worker finish its batch (SIGTERM: its own orderly stop); kill it if it does
        not stop in time."""
        if self._process is None:
            return
        stop_process(self._process, timeout, WORKER.name)
        self._close_pipe()
        self._process = None

    def _close_pipe(self) -> None:
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
            self._configs.close()
