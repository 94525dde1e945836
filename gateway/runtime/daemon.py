"""The daemon: one asyncio loop with SMTP intake, the IMAP readers and the timers; processing
and the outbox run in its worker process (gateway/runtime/worker.py).

What runs, and how it is restarted and stopped, is the process table
(gateway/runtime/services.py), which the daemon's supervisor (gateway/runtime/supervisor.py)
reads; the timers' bodies are in gateway/runtime/jobs.py. Blocking work (SQLAlchemy, IMAPClient)
runs in threads through `run_blocking`, never inline in a coroutine.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import uvloop

from gateway.config import Config, ConfigError, Smtp, load_config
from gateway.intake.imap import MailboxReader, MailboxReaders
from gateway.intake.smtp import GroupCommitter, SmtpHandler, smtp_server_factory
from gateway.intake.smtp_limits import SessionLimits, raise_descriptor_limit
from gateway.intake.smtp_session import MemoryBudget, budget_for
from gateway.logs import log_event
from gateway.runtime import heap
from gateway.runtime.alerts import AlertWatch, raised, scope_of
from gateway.runtime.jobs import Jobs
from gateway.runtime.status import Expiry, MailboxState, Snapshot, queue_depths
from gateway.runtime.supervisor import Supervisor
from gateway.runtime.systemd import Notifier
from gateway.runtime.worker_process import WorkerProcess
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.models import utcnow

if TYPE_CHECKING:
    from gateway.runtime.metrics import Metrics, MetricsServer

log = logging.getLogger("gateway.daemon")
T = TypeVar("T")


class StartupError(Exception):
    """The daemon cannot start; the text names the config key and the reason."""


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        level = logging.getLevelName(logging.getLogger().level)
        self.worker = WorkerProcess(config, level)
        self.store = Store(config.storage.url, intake=self.worker.intake)
        self.supervisor = Supervisor(config)
        self._stop = asyncio.Event()
        self._handler: SmtpHandler | None = None
        self._mailboxes: MailboxReaders | None = None
        self._started = False
        self._reload_wanted = False
        self.started_at = utcnow()
        self.notifier = Notifier.from_environment()  # systemd's, when it set NOTIFY_SOCKET
        scope = scope_of(socket.gethostname(), config.base_dir)
        self.alerts = AlertWatch(config, scope, self.started_at)
        self.jobs = Jobs(config, self.store, self.worker, self.run_blocking, self.alerts)
        self._metrics: Metrics | None = None

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        return await self.supervisor.run_blocking(function, *args)

    async def run(self) -> None:
        self._install_signals()  # before the port opens: SIGHUP's default would end the daemon
        await self.run_blocking(self.store.migrate)
        try:
            await self._start()
            log_event(log, "daemon.started", smtp=self._listen_text(),
                      relay=self.config.outbound.relay)  # fmt: skip
            # Storage migrated, SMTP listening, the worker started: what systemd waits for.
            self.notifier.ready(f"smtp {self._listen_text()}, {len(self.config.imap)} mailbox(es)")
            if self.notifier.ping_every:
                await self.supervisor.start("watchdog", self._watchdog)
            await self._stop.wait()
            log_event(log, "daemon.stopping")
        finally:
            await self.supervisor.stop()  # in the table's order
            self.jobs.release()
            self.store.close()
        log_event(log, "daemon.stopped")

    async def _start(self) -> None:
        """In this order, which the table's (the stop's) is not: the port first, so that a
        daemon that cannot listen starts nothing else; the worker after the port is ours."""
        start = self.supervisor.start
        committer = GroupCommitter(self.store, self.run_blocking)
        committer.on_commit = self.worker.wake_processing
        await start("group-commit", committer.run)
        self._metrics = self._make_metrics()
        if self.supervisor.runs("smtp"):
            await start("smtp", self._listener(committer))
        if self.supervisor.runs("metrics"):
            await start("metrics", self._metrics_server())
        self._mailboxes = self._readers(self.config)
        await start("imap-reader", self._mailboxes)
        self.jobs.mailboxes, self.jobs.metrics = self._mailboxes, self._metrics
        # In a thread: the first start waits until the fork server has its imports
        # (gateway/runtime/forkserver.py), while intake goes on; mail stored meanwhile is the
        # backlog the worker takes first.
        await start("worker", self.worker)
        for name, body in self.jobs.bodies().items():
            await start(name, body)
        self._started = True
        if self._reload_wanted:
            self.reload()

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

    def _metrics_server(self) -> MetricsServer:
        from gateway.runtime.metrics import MetricsServer

        settings, metrics = self.config.metrics, self._metrics
        assert settings is not None and metrics is not None
        try:
            server = MetricsServer(settings.host, settings.port, metrics, self.unhealthy)
        except OSError as exc:
            where = f"{settings.host}:{settings.port}"
            reason = exc.strerror or str(exc)
            raise StartupError(f"metrics.listen: cannot listen on {where}: {reason}") from None
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

    def _listen_text(self) -> str:
        smtp = self.config.smtp
        return f"{smtp.host}:{smtp.port}" if smtp else "off"

    def _listener(self, committer: GroupCommitter) -> _Listener:
        smtp = self.config.smtp
        assert smtp is not None
        self._handler = SmtpHandler(self.config, committer)
        if self._metrics:
            self._handler.count = functools.partial(self._metrics.receive, "smtp")
        budget = MemoryBudget(budget_for(smtp.max_size, smtp.memory))
        timeout = smtp.timeout.total_seconds()
        limits = SessionLimits(smtp.max_sessions, smtp.max_sessions_per_ip)
        factory = smtp_server_factory(self._handler, smtp.max_size, timeout, budget, limits)
        return _Listener(factory, smtp)

    def _readers(self, config: Config) -> MailboxReaders:
        metrics = self._metrics
        count = functools.partial(metrics.receive, "imap", "accepted") if metrics else None
        return MailboxReaders(self.store, self.worker.wake_processing, config.imap,
                              config.microsoft, count or (lambda n: None))  # fmt: skip

    async def _restart_imap(self) -> None:
        """SIGHUP changed [[imap]]: the readers stop between batches and start anew."""
        self._mailboxes = self.jobs.mailboxes = None
        readers = self._readers(self.config)
        await self.supervisor.restart("imap-reader", readers)
        self._mailboxes = self.jobs.mailboxes = readers
        log_event(log, "imap.restarted", mailboxes=len(self.config.imap))

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
        imap_changed = new.imap != self.config.imap
        self.config = self.supervisor.config = new
        self.jobs.reload(new)
        if imap_changed:
            self.supervisor.in_background(self._restart_imap())
        self.supervisor.in_background(self.run_blocking(self.worker.reload, new))
        if self._handler:
            self._handler.config = new
        log_event(log, "config.reloaded", path=str(new.path))


class _Listener:
    """The SMTP port, as a part of the supervisor's "smtp" row."""

    def __init__(self, factory: Callable[[], Any], smtp: Smtp) -> None:
        self._factory = factory
        self._smtp = smtp
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        smtp = self._smtp
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._factory, host=smtp.host, port=smtp.port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            where = f"{smtp.host}:{smtp.port}"
            raise StartupError(f"smtp.listen: cannot listen on {where}: {reason}") from None

    def stop(self) -> None:
        if self._server:
            self._server.close()


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
