"""The time the gateway acts on: the system clock, or in tests a clock set by a file.

GATEWAYD_CLOCK names a file holding an ISO 8601 instant ("2026-12-01T08:55:00+01:00"). The
clock then reads that instant as the time at which the file was last written, and runs on from
there at the normal pace, so a test moves time by writing the file (the daemon, its worker and
the CLI see the same time without a restart) and everything that waits on the clock (the outbox's
retries, the scheduler's jobs) still moves. Without the variable, or while the file is missing,
it is the system clock. Not for production: it exists so that end-to-end tests can reach the
start of service hours, a due SLA or the first working day of a month (tests/e2e/test_plans.py).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

ENV = "GATEWAYD_CLOCK"
_read: tuple[str, int, datetime] | None = None  # path, mtime_ns, the instant it holds


def now() -> datetime:
    path = os.environ.get(ENV)
    if not path:
        return datetime.now(UTC)
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return datetime.now(UTC)
    return _instant(path, stamp) + _since(stamp)


def _instant(path: str, stamp: int) -> datetime:
    global _read
    if _read is None or _read[:2] != (path, stamp):
        with open(path) as handle:
            text = handle.read().strip()
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
        _read = (path, stamp, instant if instant.tzinfo else instant.replace(tzinfo=UTC))
    return _read[2].astimezone(UTC)


def _since(stamp: int) -> timedelta:
    return timedelta(seconds=max(0.0, time.time() - stamp / 1e9))


def set_clock(path: str, instant: datetime) -> None:
    """Write `instant` for GATEWAYD_CLOCK readers (tests)."""
    temporary = f"{path}.new"
    with open(temporary, "w") as handle:
        handle.write(instant.isoformat())
    os.replace(temporary, path)
