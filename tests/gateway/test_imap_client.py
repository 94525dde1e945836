"""gateway/intake/imap_client.py with stand-ins for IMAPClient (the real Dovecot is in
tests/e2e/test_imap.py): IDLE ended and re-issued in time (RFC 2177: a server may drop an IDLE
after 30 minutes), and the batches a backlog is read in."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from gateway.config import Imap
from gateway.intake import imap_client


class IdleRecorder:
    """Only what the waiting step uses of IMAPClient; never reports new mail."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def has_capability(self, name: str) -> bool:
        return name == "IDLE"

    def idle(self) -> None:
        self.calls.append("idle")

    def idle_check(self, timeout: float) -> list[Any]:
        time.sleep(min(timeout, 0.01))
        return []

    def idle_done(self) -> None:
        self.calls.append("done")


def waited(poll: timedelta, settings: Imap) -> tuple[float, list[str]]:
    """Seconds until the waiting step ended IDLE (it is stopped after 3 s at the latest)."""
    stop = threading.Event()
    client = IdleRecorder()
    deadline = threading.Timer(3, stop.set)
    deadline.start()
    started = time.monotonic()
    try:
        imap_client.wait_for_mail(client, replace(settings, poll=poll, idle=True), stop)  # type: ignore[arg-type]
    finally:
        deadline.cancel()
    return time.monotonic() - started, client.calls


def test_idle_is_ended_after_poll(imap_settings: Imap) -> None:
    seconds, calls = waited(timedelta(seconds=0.2), imap_settings)
    assert calls == ["idle", "done"]
    assert 0.2 <= seconds < 2


def test_idle_is_ended_before_29_minutes_even_with_a_longer_poll(
    imap_settings: Imap, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert timedelta(minutes=29) == imap_client.IDLE_RENEW
    monkeypatch.setattr(imap_client, "IDLE_RENEW", timedelta(seconds=0.2))  # 29 min, shortened
    seconds, calls = waited(timedelta(hours=1), imap_settings)
    assert calls == ["idle", "done"]
    assert seconds < 2


class SizedMailbox:
    """Answers FETCH RFC822.SIZE, the one command `batches` sends."""

    def __init__(self, size: int) -> None:
        self.size = size

    def fetch(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, int]]:
        return {uid: {b"RFC822.SIZE": self.size} for uid in uids}


def test_a_backlog_is_read_in_a_small_first_batch_then_full_ones() -> None:
    """Processing begins once the first batch is stored: a small one is stored sooner."""
    uids = list(range(1, 1201))

    sizes = [len(batch) for batch in imap_client.batches(SizedMailbox(1_000), uids)]  # type: ignore[arg-type]

    first, full = imap_client.FIRST_BATCH_MESSAGES, imap_client.BATCH_MESSAGES
    assert sizes == [first, full, full, 100]
    assert first < full


def test_a_batch_also_ends_at_its_bytes() -> None:
    size = imap_client.BATCH_BYTES // 3
    mailbox = SizedMailbox(size)
    sizes = [len(batch) for batch in imap_client.batches(mailbox, list(range(1, 11)))]  # type: ignore[arg-type]
    assert sizes == [3, 3, 3, 1]
