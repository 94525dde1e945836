"""Waiting for a server's daemonised master to go: it is no longer our child, so its exit is
seen in /proc, where a zombie counts as gone (PID 1 reaps it when it gets round to it)."""

from __future__ import annotations

import time
from pathlib import Path


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Return once `pid` has exited, or after `timeout` seconds (the caller's next start or
    assertion then says what is still there)."""
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
