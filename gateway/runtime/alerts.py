"""Alerts when intake stalls: the daemon's side of routing/alerts.py.

At each check the daemon gathers the facts (when each mailbox was last read to its end, as the
database keeps it for all daemons; its worker's deaths; the outbox's size over the last hour;
the free disk where it writes), asks routing/alerts.py which problems hold, and compares them
with the problems raised in the `alerts` table. A problem that starts is inserted and told to
each admin-agent; one that ends is deleted and its "resolved" told. Insert and delete are the
test: among daemons sharing a database, only the one whose statement changed the row tells, in
the same transaction, so each problem is told once, and a daemon started again does not tell
an old problem anew. A problem of one host (its worker, its disk) carries the daemon's scope in
its key, and only that daemon resolves it.
"""

from __future__ import annotations

import logging
import shutil
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.config import Config
from gateway.logs import log_event
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import Alert, utcnow
from routing.alerts import Change, Facts, Limits, Problem, changes, problems

if TYPE_CHECKING:
    from gateway.delivery.templates import Templates

log = logging.getLogger("gateway.alerts")

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class AlertWatch:
    def __init__(self, config: Config, scope: str, started: datetime) -> None:
        self.config = config
        self.scope = scope  # this daemon among those sharing the database: host and home
        self.started = started
        self._outbox: deque[tuple[datetime, int]] = deque()  # (when, waiting) of each check

    @property
    def limits(self) -> Limits:
        alerts = self.config.alerts
        return Limits(stall_after=alerts.stall_after, min_free_bytes=alerts.min_free_disk)

    def facts(
        self,
        now: datetime,
        mailbox_success: Mapping[str, datetime | None],
        outbox_waiting: int,
        worker_deaths: Sequence[datetime],
    ) -> Facts:
        self._outbox.append((now, outbox_waiting))
        keep = self.limits.outbox_growing_for * 1.2
        while self._outbox and now - self._outbox[0][0] > keep:
            self._outbox.popleft()
        return Facts(
            now=now,
            mailbox_success=mailbox_success,
            started=self.started,
            worker_deaths=worker_deaths,
            outbox_waiting=list(self._outbox),
            free_bytes=free_bytes(self.config),
        )

    def check(self, store: Store, templates: Callable[[], Templates], facts: Facts) -> list[Change]:
        """Raise and resolve in one transaction; the changes this daemon told."""
        holding = [self._scoped(p) for p in problems(facts, self.limits)]
        with store.reader() as session:  # most checks change nothing, and take no write lock
            raised = {
                row.key: Problem(row.key, row.text, local="@" in row.key)
                for row in session.scalars(select(Alert))
                if self._ours(row.key)
            }
        pending = changes(raised, holding)
        if not pending:
            return []
        with store.session() as session:
            told = [c for c in pending if _claim(session, c, facts.now)]
            for change in told:
                _tell(session, self.config, templates(), change)
        for change in told:
            event = "alert.resolved" if change.resolved else "alert.raised"
            level = logging.INFO if change.resolved else logging.ERROR
            log_event(log, event, level=level, key=change.problem.key, text=change.problem.text)
        return told

    def _scoped(self, problem: Problem) -> Problem:
        if not problem.local:
            return problem
        return Problem(f"{problem.key}@{self.scope}", problem.text, local=True)

    def _ours(self, key: str) -> bool:
        return "@" not in key or key.endswith(f"@{self.scope}")


def raised(session: Session) -> list[str]:
    """The texts of the problems raised now, oldest first (`gatewayd status`, /metrics)."""
    return list(session.scalars(select(Alert.text).order_by(Alert.raised_at, Alert.key)))


def _claim(session: Session, change: Change, now: datetime) -> bool:
    """True when this daemon's statement raised or resolved it (and so this daemon tells)."""
    key = change.problem.key
    if change.resolved:
        return bool(session.execute(delete(Alert).where(Alert.key == key)).rowcount)  # type: ignore[attr-defined]
    insert = _INSERTS[session.get_bind().dialect.name](Alert).values(
        key=key, text=change.problem.text, raised_at=now
    )
    result = session.execute(insert.on_conflict_do_nothing().returning(Alert.key))
    return result.first() is not None


def _tell(session: Session, config: Config, templates: Templates, change: Change) -> None:
    from gateway.delivery import outbox, sender

    problem = change.problem
    if change.resolved:
        subject = f"resolved: {problem.text}"
        text = f"This problem is over:\n\n  {problem.text}\n\nNothing more is needed."
    else:
        subject = problem.text
        text = (
            f"gatewayd has a problem:\n\n  {problem.text}\n\n"
            "You are told once; another mail follows when it is resolved. "
            "`gatewayd status` shows what the gateway sees now."
        )
    # Unique: the alerts table, not the outbox's hourly limit, makes each notice go once.
    rate_key = f"alert:{'resolved:' if change.resolved else ''}{problem.key}:{utcnow().timestamp()}"
    for agent in config.agents:
        if "admin-agent" in agent.roles:
            mail = sender.notice(config, templates, agent, rate_key, subject, text)
            outbox.enqueue(Batch.immediate(session), mail, ticket_id=None)


def free_bytes(config: Config) -> dict[str, int]:
    """Free space where the daemon writes: the SQLite file's folder, the outgoing maildir."""
    paths: list[Path] = []
    url = config.storage.url
    if url.startswith("sqlite:///"):
        paths.append(Path(url.removeprefix("sqlite:///")).parent)
    relay = config.outbound.relay
    if relay.startswith("maildir:"):
        paths.append(Path(relay.removeprefix("maildir:")))
    return {str(path): shutil.disk_usage(_existing(path)).free for path in paths}


def _existing(path: Path) -> Path:
    """A maildir not made yet lives on its nearest existing parent's disk."""
    return next((p for p in (path, *path.parents) if p.exists()), Path("/"))


def scope_of(hostname: str, home: Path) -> str:
    """A daemon among those sharing a database: its host, and its home on that host."""
    return f"{hostname}:{home}"
