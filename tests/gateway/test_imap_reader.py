"""The mailbox reader's own steps without an IMAP server (the real Dovecot is in
tests/e2e/test_imap.py; the IMAP commands are in tests/gateway/test_imap_client.py): a commit
that is not urgent, and what the reader waits after each kind of failure."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from pathlib import Path

import pytest
from imapclient.exceptions import IMAPClientError, LoginError

from gateway.config import Imap
from gateway.intake import imap
from gateway.intake.imap import MailboxReader
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.locks import IntakeSignal
from gateway.store.models import ImapMailbox
from gateway.store.raw_messages import IncomingRaw


def test_a_reader_s_commit_does_not_make_the_processor_yield(
    imap_settings: Imap, tmp_path: Path
) -> None:
    """IMAP intake comes last (its row in gateway/runtime/services.py): unlike SMTP intake, its
    commits are not urgent, so a processing batch does not end early for them."""
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


@pytest.mark.parametrize(
    ("fault", "wait", "auth_failed"),
    [
        (StorageUnavailable("database down"), imap.STORAGE_RETRY_SECONDS, False),
        (imap.LockLost("connection lost"), imap.STORAGE_RETRY_SECONDS, False),
        (IMAPClientError("server gone"), None, False),  # None: the backoff's next wait
        (LoginError("refused"), None, True),
    ],
)
def test_a_fault_is_recorded_and_waited_for_by_its_kind(
    imap_settings: Imap, fault: Exception, wait: float | None, auth_failed: bool
) -> None:
    """The database is asked again soon, however long it was down; the mailbox with a backoff."""
    reader = MailboxReader(imap_settings, None, lambda: None, threading.Event())  # type: ignore[arg-type]

    assert reader.retry_after(fault) == wait

    assert reader.health.last_error == f"{type(fault).__name__}: {fault}"
    assert reader.health.auth_failed is auth_failed


def test_a_bug_is_logged_with_its_traceback_and_retried_a_minute_later(
    imap_settings: Imap, caplog: pytest.LogCaptureFixture
) -> None:
    reader = MailboxReader(imap_settings, None, lambda: None, threading.Event())  # type: ignore[arg-type]
    try:
        raise KeyError("a bug")
    except KeyError as exc:
        with caplog.at_level(logging.ERROR):
            assert reader.retry_after(exc) == imap.BACKOFF_MAX_SECONDS
    assert "imap.reader_failed mailbox=support" in caplog.text
    assert "Traceback" in caplog.text
