"""The worker: a child process of the daemon that processes stored mail and delivers the outbox.

Why a process of its own: parsing, routing and building mail are CPU work, and in the daemon's
process they held the GIL that SMTP intake needs to answer 250 (bench/smtp_intake.py; the
figures are in docs/PERFORMANCE.md). Intake stays in the daemon; everything after the raw store
runs here.

The daemon starts one worker (gateway/runtime/worker_process.py) with its own config, wakes it with
a byte on a pipe when mail was stored or queued, sends it the new config after SIGHUP and stops it
with SIGTERM. When the daemon dies, even by kill -9, the pipe's end of file ends the worker at
once: a worker never outlives its daemon. A worker that dies is started again by the daemon.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from gateway.config import Config
from gateway.delivery import outbox
from gateway.delivery.notices import notify_admins
from gateway.delivery.relay import Relay, relay_for
from gateway.delivery.templates import Templates
from gateway.logs import log_event, setup_logging
from gateway.processing.context import Context
from gateway.processing.processor import process_pending
from gateway.runtime import heap, services
from gateway.runtime.parse_ahead import ParseAhead, Parsed
from gateway.runtime.supervisor import Loops
from gateway.runtime.worker_process import DELIVER, PROCESS
from gateway.runtime.worker_stats import WorkerStats
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.locks import IntakeSignal

if TYPE_CHECKING:
    from gateway.microsoft.partner_center import PartnerCenter

log = logging.getLogger("gateway.worker")

PROCESS_BATCH = 100
# In a flood, stored mail becomes tickets first and the outbox waits, up to this long per round:
# both share one GIL, and a round of delivery held up processing as long as it ran. Each round
# still delivers (a flood that never ends does not stop the mail), and afterwards the outbox
# drains at full speed.
DELIVERY_YIELDS_SECONDS = 5.0
# The parser stage (gateway/runtime/parse_ahead.py) runs while batches come back full, and stops
# after this long without one.
PARSE_AHEAD_IDLE_SECONDS = 60.0
# On SQLite only. On PostgreSQL each daemon's stage read batches that the other daemons' workers
# were taking, and daemons were slower with it than without (bench/imap_backlog.py,
# docs/PERFORMANCE.md): there, more daemons share the work instead.
PARSE_AHEAD_DIALECTS = ("sqlite",)


def main(
    config: Config,
    log_level: str,
    wakeups: Any,
    configs: Any,
    intake: IntakeSignal,
    stats: WorkerStats | None = None,
) -> None:
    """The worker process's entry point, forked from the fork server
    (gateway/runtime/forkserver.py)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the server ignores it; ours is set below
    setup_logging(log_level)
    heap.release_large_blocks_at_once()
    # Ctrl-C and a SIGHUP to the process group reach the daemon, which stops us or sends us
    # the config it checked.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    os.nice(services.lowered_by(services.named("worker")))  # intake answers first
    worker = Worker(config, Store(config.storage.url, intake=intake), stats)
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())
    worker.run(wakeups.fileno(), configs)


class Worker:
    def __init__(self, config: Config, store: Store, stats: WorkerStats | None = None) -> None:
        self.config = config
        self.store = store
        # What /metrics reads, in memory shared with the daemon; a worker of a test alone
        # counts for nobody.
        self.stats = stats or WorkerStats(multiprocessing)
        self.context = Context(config, Templates(config.templates_folder))
        self.relay: Relay = relay_for(config.outbound, config.microsoft, self._sign_in_failed)
        self.service_requests_wanted = threading.Event()
        self._partner_center: PartnerCenter | None = None
        self.stopping = threading.Event()
        self.processing_wanted = threading.Event()
        self.delivery_wanted = threading.Event()
        self.processing_idle = threading.Event()
        self.processing_idle.set()
        cache = config.base_dir / "var" if self.context.triages else None
        self.parse_ahead = ParseAhead(store.url, cache)
        self._last_full_batch = 0.0
        # The processor, the outbox and the service requests, as the table lists them; the
        # wake-ups and the intervals say when each looks again.
        self.loops = Loops("worker", self.stopping, _failed, idle=heap.trim)

    def run(self, wakeups: int, configs: Any) -> None:
        self.processing_wanted.set()  # the backlog left by the last run, or by a crash
        self.delivery_wanted.set()
        self.loops.start({
            "processor": (self._process, self.processing_wanted),
            "outbox": (self._deliver, self.delivery_wanted),
            "service-requests": (self._service_requests, self.service_requests_wanted),
        })  # fmt: skip
        log_event(log, "worker.running", pid=os.getpid())
        self._listen(wakeups, configs)
        self.stopping.set()
        self.processing_wanted.set()
        self.delivery_wanted.set()
        self.service_requests_wanted.set()
        self.processing_idle.set()
        self.loops.stop()
        self.parse_ahead.stop()
        self.store.close()
        log_event(log, "worker.stopped")

    def _listen(self, wakeups: int, configs: Any) -> None:
        """Until SIGTERM, or until the daemon is gone (end of file on a pipe)."""
        while not self.stopping.is_set():
            ready, _, _ = select.select([wakeups, configs], [], [], 0.5)
            try:
                if configs in ready:
                    self._use(configs.recv())
                data = os.read(wakeups, 4096) if wakeups in ready else b"-"
            except EOFError:
                data = b""
            if not data:
                self._die_with_the_daemon()
            if PROCESS in data:
                self.processing_wanted.set()
            if DELIVER in data:
                self.delivery_wanted.set()
                self.service_requests_wanted.set()
            self.loops.restart_dead()

    def _die_with_the_daemon(self) -> NoReturn:
        """At once, not after the batch: a daemon started again at once would have a worker of
        its own, and on SQLite (no row locks) two workers could send one mail twice. The batch
        in work is rolled back and processed again; only a mail on the wire may go twice."""
        log_event(log, "worker.daemon_gone", level=logging.WARNING)
        os._exit(1)

    def _process(self) -> int:
        ahead = self.parse_ahead.take()
        handled = self._process_batch(ahead) if ahead and ahead.ids else 0
        if not handled:  # none parsed ahead, or all of them taken meanwhile (another daemon)
            handled = self._process_batch(None)
        if handled:  # the loop asks again at once, until a round finds nothing
            self.processing_idle.clear()
            self.delivery_wanted.set()
            self.service_requests_wanted.set()
        else:
            self.processing_idle.set()
            if time.monotonic() - self._last_full_batch > PARSE_AHEAD_IDLE_SECONDS:
                self.parse_ahead.stop()
        return handled

    def _process_batch(self, ahead: Parsed | None) -> int:
        picked: list[int] = []
        on_picked = functools.partial(self._picked, picked)
        try:
            handled = process_pending(
                self.store, self.context, PROCESS_BATCH, ahead, on_picked, self.stats.processed
            )
        except BaseException:
            self.parse_ahead.discard()  # it left out this batch, which was rolled back
            raise
        if handled < len(picked):
            # Ended early (intake waited) or some were taken meanwhile: the batch parsed ahead
            # left the rest out, and would be processed before them.
            self.parse_ahead.discard()
        return handled

    def _picked(self, picked: list[int], ids: Sequence[int]) -> None:
        """A batch was taken: a full one means a backlog, so the next is parsed meanwhile."""
        picked[:] = ids
        if self.store.dialect not in PARSE_AHEAD_DIALECTS:
            return
        if len(ids) == PROCESS_BATCH:
            self._last_full_batch = time.monotonic()
        if len(ids) == PROCESS_BATCH or self.parse_ahead.running():
            self.parse_ahead.request(PROCESS_BATCH, ids)

    def _deliver(self) -> int:
        self.processing_idle.wait(DELIVERY_YIELDS_SECONDS)
        return outbox.deliver_due(
            self.store,
            self.relay,
            self.config.outbound,
            on_given_up=self._tell_admins,
            observe=self.stats.delivered,
        )

    def _use(self, new: Config) -> None:
        """The config the daemon loaded and checked after SIGHUP."""
        self.config = new
        self.context = Context(new, Templates(new.templates_folder))
        self.relay = relay_for(new.outbound, new.microsoft, self._sign_in_failed)
        self._partner_center = None
        log_event(log, "worker.reloaded", path=str(new.path))

    def _service_requests(self) -> int:
        """Escalations to Partner Center and #upstream notes, from their queue
        (gateway/delivery/service_requests.py)."""
        if self.config.microsoft.escalation != "partner_center":
            return 0
        from gateway.delivery import service_requests
        from gateway.microsoft.clients import partner_center

        if self._partner_center is None:
            self._partner_center = partner_center(self.config.microsoft)
        made = service_requests.deliver_due(
            self.store, self.config, self.context.templates, self._partner_center, self._notify
        )
        if made:
            self.delivery_wanted.set()  # a fallback's mail, a notice
        return made

    def _notify(self, problem: str, subject: str, text: str) -> int:
        told = notify_admins(
            self.store, self.config, self.context.templates, problem, subject, text
        )
        self.delivery_wanted.set()
        return told

    def _sign_in_failed(self, problem: str, text: str) -> None:
        """The relay's Entra ID sign-in failed (outbound.auth = "microsoft"): the mail waits,
        the admin-agents hear of it once an hour."""
        self._notify(problem, "gatewayd cannot sign in to send mail", text)

    def _tell_admins(self, mail: outbox.Undeliverable) -> None:
        """Admin-agents hear of mail given up on (not of notices to themselves, which would only
        add more undeliverable mail)."""
        if mail.purpose == "notice":
            return
        text = (
            f"gatewayd gave up on a message after {mail.attempts} attempts and keeps it as "
            f"failed (gatewayd outbox list --all).\n\nPurpose: {mail.purpose}\n"
            f"To: {', '.join(mail.recipients)}\nSubject: {mail.subject}\n"
            f"Last error: {mail.error}"
        )
        notify_admins(
            self.store,
            self.config,
            self.context.templates,
            f"outbox-failed:{mail.outbox_id}",
            "a message could not be delivered",
            text,
        )
        self.delivery_wanted.set()


def _failed(row: services.Service, exc: Exception) -> None:
    """A round of a loop failed: logged, and the next round is as usual."""
    if isinstance(exc, StorageUnavailable):
        log_event(log, "worker.storage_unavailable", level=logging.ERROR, step=row.name,
                  error=str(exc))  # fmt: skip
    else:
        log.exception("worker.failed step=%s", row.name)
