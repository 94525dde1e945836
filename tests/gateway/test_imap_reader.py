"""The mailbox reader's own steps without an IMAP server (the real Dovecot is in
tests/e2e/test_imap.py; the IMAP commands are in tests/gateway/test_imap_client.py): a commit
that is not urgent."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from gateway.config import Imap
from gateway.intake.imap import MailboxReader
from gateway.store.engine import Store
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
