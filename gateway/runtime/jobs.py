"""What the daemon's timers do: the bodies of the TIMER rows of the process table
(gateway/runtime/services.py), which the daemon's supervisor runs.

Each runs its blocking part in a thread (`run_blocking`) and imports what it needs there, when
first needed: the processor's modules and the templates are the worker's everyday work, not the
daemon's, and importing them delayed the daemon's start (gateway/runtime/worker_process.py).
A storage fault is logged and the timer tries again at its next interval.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gateway.config import Config
from gateway.intake.imap import LOGIN_REFUSED, MailboxReaders
from gateway.logs import log_event
from gateway.runtime.alerts import AlertWatch
from gateway.runtime.status import queue_depths, stored_mailboxes
from gateway.runtime.worker_process import WorkerProcess
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.locks import AdvisoryLock
from gateway.store.models import utcnow

if TYPE_CHECKING:
    from gateway.config import Imap
    from gateway.delivery.templates import Templates
    from gateway.microsoft.polls import MicrosoftPolls
    from gateway.processing.timers import TimerCounts
    from gateway.runtime.metrics import Metrics

log = logging.getLogger("gateway.daemon")

RunBlocking = Callable[..., Awaitable[Any]]


class Jobs:
    """The timers' bodies, by row name (`bodies`), on the daemon's store, worker and config."""

    def __init__(
        self,
        config: Config,
        store: Store,
        worker: WorkerProcess,
        run_blocking: RunBlocking,
        alerts: AlertWatch,
    ) -> None:
        self.config = config
        self.store = store
        self.worker = worker
        self.run_blocking = run_blocking
        self.alerts = alerts
        self.mailboxes: MailboxReaders | None = None  # None while they restart
        self.metrics: Metrics | None = None
        self._templates: Templates | None = None
        self._timers_lock = AdvisoryLock(store, "job:ticket-timers")
        self._microsoft_lock = AdvisoryLock(store, "job:microsoft")
        self._microsoft: MicrosoftPolls | None = None
        self._microsoft_running = threading.Lock()  # the poll at the start and the interval's
        self._sync_lock = AdvisoryLock(store, "job:customers-sync")

    def bodies(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {
            "mailbox-check": self.check_mailboxes,
            "ticket-timers": self.ticket_timers,
            "worker-check": self.check_worker,
            "alert-check": self.check_alerts,
            "triage-train": self.triage_train,
            "microsoft-poll": self.microsoft_poll,
            "customers-sync": self.customers_sync,
        }

    def reload(self, config: Config) -> None:
        self.config = config
        self._templates = None  # read again from the new templates folder when needed

    def release(self) -> None:
        self._timers_lock.release()

    async def _guarded(self, event: str, work: Callable[[], Any]) -> Any:
        """`work` in a thread; None, and `event` logged, when the storage is unavailable."""
        try:
            return await self.run_blocking(work)
        except StorageUnavailable as exc:
            log_event(log, event, level=logging.ERROR, error=str(exc))
            return None

    # --- the worker and the alerts ---

    async def check_worker(self) -> None:
        restarted = await self.run_blocking(self.worker.check)
        if restarted and self.metrics:
            self.metrics.worker_restarts.inc()

    async def check_alerts(self) -> None:
        if await self._guarded("alerts.storage_unavailable", self._run_alert_check):
            self.worker.wake_delivery()

    def _run_alert_check(self) -> int:
        """The facts from the database (what any daemon sharing it sees of the mailboxes and
        the outbox) and from this daemon (its worker, its disks)."""
        now = utcnow()
        names = [mailbox.name for mailbox in self.config.imap]
        with self.store.reader() as session:
            waiting = queue_depths(session)["outbox_waiting"]
            success = {m.name: m.last_success for m in stored_mailboxes(session, names)}
        deaths = [datetime.fromtimestamp(t, UTC) for t in self.worker.deaths]
        self.alerts.config = self.config
        facts = self.alerts.facts(now, success, waiting, deaths)
        return len(self.alerts.check(self.store, self.texts, facts))

    # --- the mailboxes ---

    async def check_mailboxes(self) -> None:
        """A stalled fetcher must be noticed: an error in the log every check, and a notice
        mail to each admin-agent at most once an hour."""
        if self.mailboxes is None:  # being restarted
            return
        self.mailboxes.restart_dead()
        for settings, why in self.mailboxes.stalled():
            log_event(log, "imap.stalled", level=logging.ERROR, mailbox=settings.name, why=why)
            if why.startswith(LOGIN_REFUSED):  # a mailbox merely not read is told by the alerts
                await self._tell_login_refused(settings, why)

    async def _tell_login_refused(self, settings: Imap, why: str) -> None:
        subject = f"mailbox {settings.name} is not being read"
        text = (
            f"gatewayd cannot read the mailbox {settings.name} "
            f"({settings.username} at {settings.host}, folder {settings.folder}).\n\n"
            f"{why}\n\nMail that reaches the gateway by SMTP is still taken."
        )
        tell = functools.partial(self.notify_admins, f"imap:{settings.name}", subject, text)
        if await self._guarded("notice.storage_unavailable", tell):
            self.worker.wake_delivery()

    # --- the ticket timers and triage ---

    async def ticket_timers(self) -> None:
        """Run by one daemon at a time among those sharing a PostgreSQL database."""
        counts = await self._guarded("timers.storage_unavailable", self._run_ticket_timers)
        if counts and any(counts):
            log_event(log, "timers.ran", **counts._asdict())
            self.worker.wake_delivery()

    def _run_ticket_timers(self) -> TimerCounts | None:
        from gateway.processing import timers

        return timers.run_ticket_timers(self.store, self._timers_lock, self.config, self.texts())

    async def triage_train(self) -> None:
        """Every daemon trains its own model (each keeps it in its own var/); the labels are
        the same for all, and so is what they learn."""
        await self._guarded("triage.storage_unavailable", self._run_triage_train)

    def _run_triage_train(self) -> None:
        from gateway.processing.triage_labels import examples
        from gateway.processing.triage_model import train_with_labels

        with self.store.reader() as session:
            labels = examples(session)
        if labels:  # without labels the corpus's own model is the one in use
            train_with_labels(self.config.base_dir / "var", labels, dry_run=False)

    # --- Microsoft ---

    async def microsoft_poll(self) -> None:
        """Service requests, service health and the sign-in (gateway/microsoft/polls.py), by
        one daemon at a time among those sharing a PostgreSQL database."""
        if await self._guarded("microsoft.storage_unavailable", self._run_microsoft_poll):
            self.worker.wake_delivery()

    def _run_microsoft_poll(self) -> int:
        from gateway.microsoft.polls import MicrosoftPolls

        if not self._microsoft_running.acquire(blocking=False):
            return 0  # a round is still running
        try:
            if not self._microsoft_lock.acquire():
                return 0
            if self._microsoft is None or self._microsoft.config is not self.config:
                self._microsoft = MicrosoftPolls(self.store, self.config, self.texts(), self._tell)
            return self._microsoft.run()
        finally:
            self._microsoft_running.release()

    def _tell(self, problem: str, subject: str, text: str) -> int:
        queued = self.notify_admins(problem, subject, text)
        if queued:
            self.worker.wake_delivery()
        return queued

    async def customers_sync(self) -> None:
        try:
            await self.run_blocking(self._run_customers_sync)
        except Exception as exc:  # a sync that fails is tried again at the next interval
            log_event(log, "customers.sync_failed", level=logging.WARNING, error=str(exc))

    def _run_customers_sync(self) -> None:
        """The scheduled `gatewayd customers sync`: the file changes, a SIGHUP reads it."""
        from gateway.microsoft.customers import sync_from_config

        if not self._sync_lock.acquire():
            return
        plan = sync_from_config(self.config, dry_run=False)
        if plan.changed:
            log_event(log, "customers.synced", changes=len(plan.changes))
            signal.raise_signal(signal.SIGHUP)

    # --- what they share ---

    def notify_admins(self, problem: str, subject: str, text: str) -> int:
        from gateway.delivery.notices import notify_admins

        return notify_admins(self.store, self.config, self.texts(), problem, subject, text)

    def texts(self) -> Templates:
        from gateway.delivery.templates import Templates

        if self._templates is None:
            self._templates = Templates(self.config.templates_folder)
        return self._templates
