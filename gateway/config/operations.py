"""The sections about running the gateway: [metrics], [alerts], and the DKIM keys of
[outbound] (read with the rest of [outbound] in sections.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from gateway.config.model import Alerts, Metrics
from gateway.config.values import Table, parse_host_port, parse_size, positive_duration


def read_metrics(t: Table) -> Metrics:
    host, port = t.get("listen", parse_host_port, ("127.0.0.1", 9125)) or ("", 0)
    t.finish()
    return Metrics(host=host, port=port)


def read_alerts(t: Table) -> Alerts:
    alerts = Alerts(
        stall_after=t.get("stall_after", positive_duration, timedelta(minutes=15)),
        min_free_disk=t.get("min_free_disk", parse_size, 10**9),
    )
    t.finish()
    return alerts


def read_dkim_key(t: Table, key_file: Path | None, selector: str, domain: str) -> bytes:
    """The key, once it has signed a test message; b"" when DKIM is off or the key is wrong
    (the problem is then listed, naming the key)."""
    if not key_file and not selector:
        return b""
    if not key_file or not selector:
        t.problems.append(
            f"{t.key('dkim_key_file')}: give both dkim_key_file and dkim_selector, or neither"
        )
        return b""
    from gateway.delivery.dkim import DkimKeyError, read_key

    try:
        return read_key(key_file, selector, domain)
    except DkimKeyError as exc:
        t.problems.append(f"{t.key('dkim_key_file')}: {exc}")
        return b""
