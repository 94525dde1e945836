"""Service health as the processor sees it: [[known_issues]] from the config, the Microsoft
Graph service health issues in `[service_health] file` (read again whenever the file changes),
and those the daemon polls from Graph (`service_health_snapshots`, gateway/microsoft/health.py):
the partner's tenant's for every customer, a customer's own tenant's for that customer only."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.config import Config
from gateway.logs import log_event
from gateway.store.models import ServiceHealthSnapshot
from routing.service_health import Incident, active, matching
from routing.service_health_sources import incidents_from_graph, incidents_from_known_issues

log = logging.getLogger("gateway.service_health")

# The polled snapshots are looked at again after this long: one small query per few seconds of
# processing, not per message; the poll itself runs every microsoft.poll.
SNAPSHOT_SECONDS = 5.0
PARTNER_SCOPE = ""  # the snapshot of the partner's own tenant


class ServiceHealth:
    def __init__(self, config: Config) -> None:
        self._known = incidents_from_known_issues(config.known_issues)
        self._file = config.service_health_file
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._from_file: list[Incident] = []
        self._polled: dict[str, tuple[datetime, list[Incident]]] = {}
        self._polled_at = float("-inf")

    def incident_for(
        self,
        subject: str,
        text: str,
        now: datetime,
        customer_id: str | None = None,
        session: Session | None = None,
    ) -> Incident | None:
        """The active incident a customer's message is about, if any. With `session`, the
        polled incidents count too: the partner's tenant's, and the customer's own."""
        polled = self._polled_incidents(session, customer_id) if session is not None else []
        candidates = [*self._known, *self._graph_incidents(), *polled]
        return matching(active(candidates, now), subject, text)

    def _polled_incidents(self, session: Session, customer_id: str | None) -> list[Incident]:
        with self._lock:
            if time.monotonic() - self._polled_at >= SNAPSHOT_SECONDS:
                self._read_snapshots(session)
                self._polled_at = time.monotonic()
            scopes = [PARTNER_SCOPE, *([customer_id] if customer_id else [])]
            return [i for scope in scopes for i in self._polled.get(scope, (None, []))[1]]

    def _read_snapshots(self, session: Session) -> None:
        rows = session.execute(
            select(ServiceHealthSnapshot.scope, ServiceHealthSnapshot.fetched_at)
        ).all()
        stamps = {scope: fetched_at for scope, fetched_at in rows}
        for scope, fetched_at in stamps.items():
            if self._polled.get(scope, (None, []))[0] == fetched_at:
                continue
            row = session.get_one(ServiceHealthSnapshot, scope)
            incidents, problems = incidents_from_graph(row.issues)
            for problem in problems:
                log_event(
                    log, "service_health.entry_skipped", level=logging.WARNING, problem=problem
                )
            self._polled[scope] = (fetched_at, incidents)
        for scope in set(self._polled) - set(stamps):
            del self._polled[scope]

    def _graph_incidents(self) -> list[Incident]:
        if self._file is None:
            return []
        with self._lock:
            try:
                status = self._file.stat()
            except OSError:
                return self._from_file  # not there (yet): keep what was read last
            stamp = (status.st_mtime, status.st_size)
            if stamp != self._stamp:
                self._stamp = stamp
                self._from_file = _read(self._file)
            return self._from_file


def _read(path: Path) -> list[Incident]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log_event(
            log, "service_health.unreadable", level=logging.ERROR, file=str(path), error=str(exc)
        )
        return []
    incidents, problems = incidents_from_graph(data)
    for problem in problems:
        log_event(log, "service_health.entry_skipped", level=logging.WARNING, problem=problem)
    log_event(log, "service_health.loaded", file=str(path), incidents=len(incidents))
    return incidents
