"""Service health as the processor sees it: [[known_issues]] from the config plus the Microsoft
Graph service health issues in `[service_health] file`, read again whenever the file changes."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from pathlib import Path

from gateway.config import Config
from gateway.logs import log_event
from routing.service_health import (
    Incident,
    active,
    incidents_from_graph,
    incidents_from_known_issues,
    matching,
)

log = logging.getLogger("gateway.service_health")


class ServiceHealth:
    def __init__(self, config: Config) -> None:
        self._known = incidents_from_known_issues(config.known_issues)
        self._file = config.service_health_file
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._from_file: list[Incident] = []

    def incident_for(self, subject: str, text: str, now: datetime) -> Incident | None:
        """The active incident a customer's message is about, if any."""
        return matching(active([*self._known, *self._graph_incidents()], now), subject, text)

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
