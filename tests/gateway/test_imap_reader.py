"""The mailbox reader's own steps, with stand-ins for the IMAP client (the real Dovecot is in
tests/e2e/test_imap.py): IDLE ended and re-issued in time (RFC 2177: a server may drop an IDLE
after 30 minutes), the batches a backlog is read in, and a commit that is not urgent."""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Imap
from gateway.intake import imap
from gateway.intake.imap import MailboxReader
from gateway.store.engine import Store
from gateway.store.locks import IntakeSignal
from gateway.store.models import ImapMailbox
from gateway.store.raw_messages import IncomingRaw


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


@pytest.fixture
def imap_settings(config_data: dict[str, Any], make_config: Any) -> Imap:
    config_data["imap"] = [{"name": "support", "host": "127.0.0.1", "username": "support",
                            "password": "secret"}]  # fmt: skip
    return make_config(config_data).imap[0]  # type: ignore[no-any-return]


def waited(poll: timedelta, settings: Imap) -> tuple[float, list[str]]:
    """Seconds until the waiting step ended IDLE (it is stopped after 3 s at the latest)."""
    stop = threading.Event()
    reader = MailboxReader(replace(settings, poll=poll, idle=True), None, lambda: None, stop)  # type: ignore[arg-type]
    client = IdleRecorder()
    deadline = threading.Timer(3, stop.set)
    deadline.start()
    started = time.monotonic()
    try:
        reader._wait_for_mail(client)  # type: ignore[arg-type]
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
    assert timedelta(minutes=29) == imap.IDLE_RENEW
    monkeypatch.setattr(imap, "IDLE_RENEW", timedelta(seconds=0.2))  # 29 minutes, shortened
    seconds, calls = waited(timedelta(hours=1), imap_settings)
    assert calls == ["idle", "done"]
    assert seconds < 2


class SizedMailbox:
    """Answers FETCH RFC822.SIZE, the one command `_batches` sends."""

    def __init__(self, size: int) -> None:
        self.size = size

    def fetch(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, int]]:
        return {uid: {b"RFC822.SIZE": self.size} for uid in uids}


def test_a_backlog_is_read_in_a_small_first_batch_then_full_ones() -> None:
    """Processing begins once the first batch is stored: a small one is stored sooner."""
    uids = list(range(1, 1201))

    sizes = [len(batch) for batch in imap._batches(SizedMailbox(1_000), uids)]  # type: ignore[arg-type]

    assert sizes == [imap.FIRST_BATCH_MESSAGES, imap.BATCH_MESSAGES, imap.BATCH_MESSAGES, 100]
    assert imap.FIRST_BATCH_MESSAGES < imap.BATCH_MESSAGES


def test_a_batch_also_ends_at_its_bytes() -> None:
    size = imap.BATCH_BYTES // 3
    sizes = [len(batch) for batch in imap._batches(SizedMailbox(size), list(range(1, 11)))]  # type: ignore[arg-type]
    assert sizes == [3, 3, 3, 1]


def test_a_reader_s_commit_does_not_make_the_processor_yield(
    imap_settings: Imap, tmp_path: Path
) -> None:
    """IMAP intake comes last (READER_NICENESS): unlike SMTP intake, its commits are not
    urgent, so a processing batch does not end early for them."""
    intake = IntakeSignal(multiprocessing.get_context("spawn"))
    store = Store(f"sqlite:///{tmp_path}/gateway.db", intake=intake)
    store.migrate()
    with store.session() as session:
        session.add(ImapMailbox(name=imap_settings.name, uidvalidity=1, last_uid=0))
    reader = MailboxReader(imap_settings, store, lambda: None, threading.Event())
    mail = IncomingRaw(data=b"Subject: x\r\n\r\nx\r\n", via="imap", imap_mailbox="support",
                       imap_uidvalidity=1, imap_uid=1)  # fmt: skip

    reader._commit([mail], last_uid=1)

    assert not intake.busy()  # an urgent writer leaves it busy for a while after its commit
    store.close()
