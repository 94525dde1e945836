"""The daemon: one asyncio loop with SMTP intake, the IMAP readers and the timers; processing
and the outbox run in its worker process (gateway/runtime/worker.py).

Blocking work (SQLAlchemy, IMAPClient) runs in threads through `run_blocking`, never inline in
a coroutine.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import uvloop
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from gateway.config import Config, ConfigError, load_config
from gateway.intake.imap import LOGIN_REFUSED, MailboxReader, MailboxReaders
from gateway.intake.smtp import GroupCommitter, SmtpHandler, smtp_server_factory
from gateway.intake.smtp_limits import SessionLimits, raise_descriptor_limit
from gateway.intake.smtp_session import MemoryBudget
from gateway.logs import log_event
from gateway.runtime import heap
from gateway.runtime.alerts import AlertWatch, raised, scope_of
from gateway.runtime.status import Expiry, MailboxState, Snapshot, queue_depths, stored_mailboxes
from gateway.runtime.systemd import Notifier
from gateway.runtime.worker_process import WorkerProcess
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.locks import AdvisoryLock
from gateway.store.models import utcnow

if TYPE_CHECKING:
    from gateway.delivery.templates import Templates
    from gateway.microsoft.polls import MicrosoftPolls
    from gateway.processing.timers import TimerCounts
    from gateway.runtime.metrics import Metrics, MetricsServer

log = logging.getLogger("gateway.daemon")
T = TypeVar("T")

WORKER_CHECK_SECONDS = 5  # how soon a dead worker is started again
MAILBOX_CHECK_SECONDS = 10  # how soon a stalled mailbox is logged and reported
TIMERS_EVERY_SECONDS = 60  # closing waiting tickets, SLA reminders, digest, statements
# Tests only (tests/e2e/test_plans.py): the timers every N seconds instead, so that a test that
# moves the clock (gateway/clock.py) does not wait a minute for each step.
TIMERS_ENV = "GATEWAYD_TIMERS_SECONDS"
TRIAGE_TRAIN_EVERY_SECONDS = 24 * 3600  # learning the agents' labels (gatewayd triage train)
ALERTS_CHECK_SECONDS = 10  # how soon a stalled intake is told (gateway/runtime/alerts.py)


class StartupError(Exception):
    """The daemon cannot start; the text names the config key and the reason."""


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._templates: Templates | None = None
        level = logging.getLevelName(logging.getLogger().level)
        self.worker = WorkerProcess(config, level)
        self.store = Store(config.storage.url, intake=self.worker.intake)
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway")
        self._stop = asyncio.Event()
        self._handler: SmtpHandler | None = None
        self._mailboxes: MailboxReaders | None = None
        self._background: set[asyncio.Task[None]] = set()  # referenced until they finish
        self._started = False
        self._reload_wanted = False
        self._timers_lock = AdvisoryLock(self.store, "job:ticket-timers")
        self.started_at = utcnow()
        self.notifier = Notifier.from_environment()  # systemd's, when it set NOTIFY_SOCKET
        scope = scope_of(socket.gethostname(), config.base_dir)
        self.alerts = AlertWatch(config, scope, self.started_at)
        self._metrics: Metrics | None = None
        self._metrics_server: MetricsServer | None = None
        self._microsoft_lock = AdvisoryLock(self.store, "job:microsoft")
        self._microsoft: MicrosoftPolls | None = None
        self._microsoft_running = threading.Lock()  # the poll at the start and the interval's
        self._sync_lock = AdvisoryLock(self.store, "job:customers-sync")

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))

    async def run(self) -> None:
        self._install_signals()  # before the port opens: SIGHUP's default would end the daemon
        await self.run_blocking(self.store.migrate)
        committer = GroupCommitter(self.store, self.run_blocking)
        committer.on_commit = self.worker.wake_processing
        committer.start()
        self._metrics = self._make_metrics()
        server = await self._start_smtp(committer)
        self._metrics_server = self._serve_metrics()
        self._mailboxes = self._start_imap()
        # After the port is ours: a daemon that cannot listen starts none. In a thread: the
        # first start waits until the fork server has its imports (gateway/runtime/forkserver.py),
        # while intake goes on; mail stored meanwhile is the backlog the worker takes first.
        await self.run_blocking(self.worker.start)
        scheduler = self._start_scheduler()
        self._started = True
        if self._reload_wanted:
            self.reload()
        log_event(log, "daemon.started", smtp=self._listen_text(), relay=self.config.outbound.relay)
        # Storage migrated, SMTP listening, the worker started: what systemd waits for.
        self.notifier.ready(f"smtp {self._listen_text()}, {len(self.config.imap)} mailbox(es)")
        watchdog = asyncio.create_task(self._watchdog()) if self.notifier.ping_every else None
        await self._stop.wait()
        log_event(log, "daemon.stopping")
        if watchdog:
            watchdog.cancel()
        if server:
            server.close()
        # Paused, not shut down, while a running job finishes: APScheduler's shutdown cancels
        # the tasks of running jobs (a traceback in the log, and a notice half sent).
        scheduler.pause()
        await asyncio.gather(*self._background)
        scheduler.shutdown(wait=False)
        if self._mailboxes:
            await self.run_blocking(self._mailboxes.stop)
        await committer.stop()
        await self.run_blocking(self.worker.stop)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._timers_lock.release()
        if self._metrics_server:
            self._metrics_server.stop()
        self.store.close()
        log_event(log, "daemon.stopped")

    async def _watchdog(self) -> None:
        """WATCHDOG=1 from the event loop itself: a loop that hangs stops the pings, and
        systemd restarts the daemon after WatchdogSec."""
        assert self.notifier.ping_every
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(self.notifier.ping_every)

    def _make_metrics(self) -> Metrics | None:
        if self.config.metrics is None:
            return None
        from gateway.runtime.metrics import Metrics  # prometheus-client only when asked for

        return Metrics(self.worker.stats, self.snapshot)

    def _serve_metrics(self) -> MetricsServer | None:
        settings = self.config.metrics
        if settings is None or self._metrics is None:
            return None
        from gateway.runtime.metrics import MetricsServer

        try:
            server = MetricsServer(settings.host, settings.port, self._metrics, self.unhealthy)
        except OSError as exc:
            where = f"{settings.host}:{settings.port}"
            reason = exc.strerror or str(exc)
            raise StartupError(f"metrics.listen: cannot listen on {where}: {reason}") from None
        server.start()
        log_event(log, "metrics.listening", listen=f"{settings.host}:{server.port}")
        return server

    def snapshot(self) -> Snapshot:
        """What /metrics, /healthz and the alerts read (in a thread: it queries the database)."""
        now = utcnow()
        try:
            with self.store.reader() as session:
                queues, alerts = queue_depths(session), raised(session)
            error = None
        except StorageUnavailable as exc:
            queues, alerts, error = {}, [], str(exc)
        readers = self._mailboxes.readers() if self._mailboxes else []
        return Snapshot(
            at=now,
            storage_error=error,
            queues=queues,
            mailboxes=[_mailbox_state(reader, now) for reader in readers],
            expiries=[e for reader in readers for e in _expiries(reader)],
            alerts=alerts,
            worker_alive=self.worker.alive(),
        )

    def unhealthy(self) -> list[str]:
        """/healthz: why this daemon cannot store mail, or its intake stalls; [] when fine."""
        return self.snapshot().unhealthy(self.config.alerts.stall_after, self.started_at)

    async def _check_alerts(self) -> None:
        try:
            told = await self.run_blocking(self._run_alert_check)
        except StorageUnavailable as exc:
            log_event(log, "alerts.storage_unavailable", level=logging.ERROR, error=str(exc))
            return
        if told:
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
        return len(self.alerts.check(self.store, self._texts, facts))

    def _listen_text(self) -> str:
        smtp = self.config.smtp
        return f"{smtp.host}:{smtp.port}" if smtp else "off"

    async def _start_smtp(self, committer: GroupCommitter) -> asyncio.Server | None:
        smtp = self.config.smtp
        if smtp is None:
            return None
        self._handler = SmtpHandler(self.config, committer)
        if self._metrics:
            self._handler.count = functools.partial(self._metrics.receive, "smtp")
        budget = MemoryBudget(smtp.memory) if smtp.memory else None
        timeout = smtp.timeout.total_seconds()
        limits = SessionLimits(smtp.max_sessions, smtp.max_sessions_per_ip)
        factory = smtp_server_factory(self._handler, smtp.max_size, timeout, budget, limits)
        loop = asyncio.get_running_loop()
        try:
            return await loop.create_server(factory, host=smtp.host, port=smtp.port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            where = f"{smtp.host}:{smtp.port}"
            raise StartupError(f"smtp.listen: cannot listen on {where}: {reason}") from None

    def _start_imap(self) -> MailboxReaders:
        count = (
            functools.partial(self._metrics.receive, "imap", "accepted") if self._metrics else None
        )
        readers = MailboxReaders(self.store, self.worker.wake_processing, count or (lambda n: None))
        readers.start(self.config.imap, self.config.microsoft)
        return readers

    async def _ticket_timers(self) -> None:
        """Run by one daemon at a time among those sharing a PostgreSQL database."""
        try:
            counts = await self.run_blocking(self._run_ticket_timers)
        except StorageUnavailable as exc:
            log_event(log, "timers.storage_unavailable", level=logging.ERROR, error=str(exc))
            return
        if counts and any(counts):
            log_event(log, "timers.ran", **counts._asdict())
            self.worker.wake_delivery()

    # Timers and notices run in a thread and import what they need there, when first needed:
    # the processor's modules and the templates are the worker's everyday work, not the
    # daemon's, and importing them delayed the daemon's start (gateway/runtime/worker_process.py).

    def _run_ticket_timers(self) -> TimerCounts | None:
        from gateway.processing import timers

        return timers.run_ticket_timers(self.store, self._timers_lock, self.config, self._texts())

    async def _triage_train(self) -> None:
        """Every daemon trains its own model (each keeps it in its own var/); the labels are
        the same for all, and so is what they learn."""
        try:
            await self.run_blocking(self._run_triage_train)
        except StorageUnavailable as exc:
            log_event(log, "triage.storage_unavailable", level=logging.ERROR, error=str(exc))

    def _run_triage_train(self) -> None:
        from gateway.processing.triage_labels import examples
        from gateway.processing.triage_model import train_with_labels

        with self.store.reader() as session:
            labels = examples(session)
        if labels:  # without labels the corpus's own model is the one in use
            train_with_labels(self.config.base_dir / "var", labels, dry_run=False)

    async def _microsoft_poll(self) -> None:
        """Service requests, service health and the sign-in (gateway/microsoft/polls.py), by
        one daemon at a time among those sharing a PostgreSQL database."""
        try:
            told = await self.run_blocking(self._run_microsoft_poll)
        except StorageUnavailable as exc:
            log_event(log, "microsoft.storage_unavailable", level=logging.ERROR, error=str(exc))
            return
        if told:
            self.worker.wake_delivery()

    def _run_microsoft_poll(self) -> int:
        from gateway.microsoft.polls import MicrosoftPolls

        if not self._microsoft_running.acquire(blocking=False):
            return 0  # a round is still running
        try:
            if not self._microsoft_lock.acquire():
                return 0
            if self._microsoft is None or self._microsoft.config is not self.config:
                self._microsoft = MicrosoftPolls(self.store, self.config, self._texts(), self._tell)
            return self._microsoft.run()
        finally:
            self._microsoft_running.release()

    def _tell(self, problem: str, subject: str, text: str) -> int:
        queued = self._notify_admins(problem, subject, text)
        if queued:
            self.worker.wake_delivery()
        return queued

    async def _customers_sync(self) -> None:
        try:
            await self.run_blocking(self._run_customers_sync)
        except Exception as exc:  # a sync that fails is tried again at the next interval
            log_event(log, "customers.sync_failed", level=logging.WARNING, error=str(exc))

    def _run_customers_sync(self) -> None:
        """The scheduled `gatewayd customers sync`: the file changes, a SIGHUP reads it."""
        from gateway.cli.microsoft import sync_customers

        if not self._sync_lock.acquire():
            return
        plan = sync_customers(self.config, dry_run=False)
        if plan.changed:
            log_event(log, "customers.synced", changes=len(plan.changes))
            signal.raise_signal(signal.SIGHUP)

    def _notify_admins(self, problem: str, subject: str, text: str) -> int:
        from gateway.delivery.notices import notify_admins

        return notify_admins(self.store, self.config, self._texts(), problem, subject, text)

    def _texts(self) -> Templates:
        from gateway.delivery.templates import Templates

        if self._templates is None:
            self._templates = Templates(self.config.templates_folder)
        return self._templates

    async def _restart_imap(self) -> None:
        """SIGHUP changed [[imap]]: the readers stop between batches and start anew."""
        old, self._mailboxes = self._mailboxes, None
        if old:
            await self.run_blocking(old.stop)
        self._mailboxes = self._start_imap()
        log_event(log, "imap.restarted", mailboxes=len(self.config.imap))

    async def _check_mailboxes(self) -> None:
        """A stalled fetcher must be noticed: an error in the log every check, and a notice
        mail to each admin-agent at most once an hour."""
        if self._mailboxes is None:  # being restarted
            return
        for settings, why in self._mailboxes.stalled():
            log_event(log, "imap.stalled", level=logging.ERROR, mailbox=settings.name, why=why)
            if not why.startswith(LOGIN_REFUSED):
                continue  # a mailbox merely not read is told once, by the alerts
            subject = f"mailbox {settings.name} is not being read"
            text = (
                f"gatewayd cannot read the mailbox {settings.name} "
                f"({settings.username} at {settings.host}, folder {settings.folder}).\n\n"
                f"{why}\n\nMail that reaches the gateway by SMTP is still taken."
            )
            try:
                queued = await self.run_blocking(
                    self._notify_admins, f"imap:{settings.name}", subject, text
                )
            except StorageUnavailable as exc:
                log_event(log, "notice.storage_unavailable", level=logging.ERROR, error=str(exc))
                continue
            if queued:
                self.worker.wake_delivery()

    def _start_scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler()
        jobs: list[tuple[Callable[[], Coroutine[Any, Any, None]], float]] = [
            (self._check_mailboxes, MAILBOX_CHECK_SECONDS),
            (self._ticket_timers, _timers_every()),
            (self._check_worker, WORKER_CHECK_SECONDS),
            (self._check_alerts, ALERTS_CHECK_SECONDS),
        ]
        if any(key == "intent" for rule in self.config.rules for key, _ in rule.when):
            jobs.append((self._triage_train, TRIAGE_TRAIN_EVERY_SECONDS))
        microsoft = self.config.microsoft
        if microsoft.signs_in or microsoft.escalation == "partner_center":
            jobs.append((self._microsoft_poll, microsoft.poll.total_seconds()))
        if self.config.directory_settings.sync and self.config.directory_settings.file:
            jobs.append((self._customers_sync, self.config.directory_settings.sync.total_seconds()))
        for job, seconds in jobs:
            scheduler.add_job(self._job(job), "interval", seconds=seconds, name=job.__name__)
        if microsoft.signs_in or microsoft.escalation == "partner_center":
            # Once at the start as well: service health and the sign-in should not wait a poll.
            scheduler.add_job(self._job(self._microsoft_poll), name="_microsoft_poll_at_start")
        scheduler.start()
        return scheduler

    def _job(self, work: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], Any]:
        """A scheduled job that the stop waits for, and that does nothing once the daemon stops.
        Without it, a job running at the stop (the worker check every 5 s) went on beside it:
        its blocking call was cancelled with the executor (a traceback in the log), or it saw
        the worker stopping as a worker that died and started another."""

        async def run() -> None:
            if self._stop.is_set():
                return
            task = asyncio.current_task()
            assert task is not None
            self._background.add(task)
            try:
                await work()
            finally:
                self._background.discard(task)

        return run

    async def _check_worker(self) -> None:
        deaths = len(self.worker.deaths)
        await self.run_blocking(self.worker.check)
        if self._metrics and len(self.worker.deaths) > deaths:
            self._metrics.worker_restarts.inc()

    def _in_background(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stopping)
        loop.add_signal_handler(signal.SIGINT, self._stopping)
        loop.add_signal_handler(signal.SIGHUP, self._sighup)

    def _stopping(self) -> None:
        if not self._stop.is_set():
            self.notifier.stopping()
        self._stop.set()

    def _sighup(self) -> None:
        """A SIGHUP during start-up is kept until the parts a reload touches are running."""
        if self._started:
            self.reload()
        else:
            self._reload_wanted = True

    def reload(self) -> None:
        """SIGHUP: use the new config if it is valid; else keep the running one and say why."""
        try:
            new = load_config(self.config.path, create_secret=True)
        except ConfigError as exc:
            for problem in exc.problems:
                log_event(log, "config.invalid", level=logging.ERROR, problem=problem)
            log_event(log, "config.kept", level=logging.ERROR, path=str(self.config.path))
            return
        for part in ("storage", "smtp"):
            if getattr(new, part) != getattr(self.config, part):
                log_event(log, "config.restart_needed", level=logging.WARNING, section=part)
        if new.imap != self.config.imap:
            self._in_background(self._restart_imap())
        self.config = new
        self._templates = None  # read again from the new templates folder when needed
        self._in_background(self.run_blocking(self.worker.reload, new))
        if self._handler:
            self._handler.config = new
        log_event(log, "config.reloaded", path=str(new.path))


def _timers_every() -> float:
    try:
        return max(0.5, float(os.environ.get(TIMERS_ENV, TIMERS_EVERY_SECONDS)))
    except ValueError:
        return TIMERS_EVERY_SECONDS


def _mailbox_state(reader: MailboxReader, now: datetime) -> MailboxState:
    health = reader.health
    since = timedelta(seconds=time.monotonic() - health.last_success)
    return MailboxState(reader.settings.name, now - since, health.waiting, health.last_error)


def _expiries(reader: MailboxReader) -> list[Expiry]:
    name, found = f"imap:{reader.settings.name}", []
    for kind, at in (
        ("certificate", reader.health.certificate_expires),
        ("token", reader.token_expires()),
    ):
        if at is not None:
            found.append(Expiry(kind, name, datetime.fromtimestamp(at, UTC)))
    return found


def run_daemon(config: Config) -> None:
    heap.release_large_blocks_at_once()
    # Every SMTP session, IMAP connection and database file is a descriptor; smtp.max_sessions
    # caps the sessions, and the soft limit (often 1,024) must not cap them first.
    soft, hard = raise_descriptor_limit()
    log_event(log, "daemon.open_files_limit", soft=soft, hard=hard)
    # uvloop: the event loop and its transports in C. Intake is held by the GIL that the loop
    # and the group commit's thread share (docs/PERFORMANCE.md); less Python in the loop leaves
    # more of it to the commits.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(Daemon(config).run())
