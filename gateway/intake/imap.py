"""Mailbox intake over IMAP: one reader thread per [[imap]] mailbox.

A reader takes the backlog, then waits with IDLE (RFC 2177) or polls. Each batch is fetched with
BODY.PEEK[] (nothing is marked read by the fetch), committed, and only then moved to
`done_folder` or flagged \\Seen. The mailbox, UIDVALIDITY and UID of every stored message are
kept, so a crash between the commit and the move makes no duplicate: the next run finds the
message stored and only moves it.

The IMAP commands are in imap_client.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy import select

from gateway.auth.tokens import TokenError
from gateway.config import Imap, Microsoft
from gateway.intake import imap_client
from gateway.logs import log_event
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.locks import AdvisoryLock
from gateway.store.models import ImapMailbox, RawMessage, utcnow
from gateway.store.raw_messages import IncomingRaw, insert_raw_rows

log = logging.getLogger("gateway.imap")

BACKOFF_MAX_SECONDS = 60.0
STORAGE_RETRY_SECONDS = 2.0  # how soon a reader tries again while the database is down

STANDBY_SECONDS = 2.0  # how soon a standing-by daemon takes over a mailbox
# How often a check that found nothing new is written to the database (the alerts and `gatewayd
# status` read it there); a batch stored writes it anyway.
SUCCESS_WRITE_SECONDS = 5.0
LOGIN_REFUSED = "login refused"  # how stalled() begins the reason of a refused login
# IMAP intake comes last. No sender waits for its answer: a message stays in the mailbox until
# its commit, so a slower read delays nothing that a person sees. In a backlog the processor goes
# first, and SMTP intake (which owes its clients a 250) before both. So a reader thread runs at a
# lower CPU priority than the worker (gateway/runtime/worker.py, NICENESS), and its commits do not
# make the processor end a batch early (not `urgent`, gateway/store/). Measured with
# bench/imap_backlog.py (docs/PERFORMANCE.md): the worker no longer waits while the reader has
# the CPU, and the reader uses the core that processing leaves free.
READER_NICENESS = 10


class LockLost(Exception):
    """This daemon no longer holds the mailbox's lock: stop reading, try to take it again."""


FAULTS = (
    IMAPClientError,
    OSError,
    ssl.SSLError,
    socket.timeout,
    StorageUnavailable,
    TokenError,
    LockLost,
)


@dataclass
class Health:
    """What the stall check reads; written by the reader thread only."""

    last_success: float  # time.monotonic()
    last_error: str | None = None
    auth_failed: bool = False
    waiting: int | None = None  # messages found and not yet taken, at the last look
    certificate_expires: float | None = None  # the server's TLS certificate's notAfter (Unix)


def _lower_priority(niceness: int) -> None:
    """Of the calling thread only: on Linux a thread has a niceness of its own."""
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):  # a platform without it: the same work, in another order
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(current + niceness, 19))


class MailboxReader:
    def __init__(
        self,
        settings: Imap,
        store: Store,
        on_stored: Callable[[], None],
        stop: threading.Event,
        microsoft: Microsoft | None = None,  # its app signs in with auth = "microsoft"
    ) -> None:
        from gateway.auth.sources import mail_token

        self.settings = settings
        self.store = store
        self.on_stored = on_stored
        self.stop = stop
        self.health = Health(last_success=time.monotonic())
        self.count: Callable[[int], None] = lambda stored: None  # /metrics: messages stored
        self._success_written = 0.0
        self._standing_by = False
        self._token = mail_token(
            settings.auth, settings.token_command, f"imap[{settings.name}]", microsoft
        )

    def run(self) -> None:
        """The thread's body: read until stopped, reconnecting with backoff after any fault.
        Among daemons sharing a PostgreSQL database, only the holder of the mailbox's lock
        reads it; the others stand by and take over when it goes."""
        _lower_priority(READER_NICENESS)
        backoff = 1.0
        lock = AdvisoryLock(self.store, f"imap:{self.settings.name}")
        try:
            while not self.stop.is_set():
                try:
                    if lock.acquire():
                        self._session(lock)
                        backoff = 1.0
                    else:
                        self._stand_by()
                except (StorageUnavailable, LockLost) as exc:
                    # The database, not the mailbox: asking it again is cheap, and a backoff
                    # grown during a long outage would leave the mailbox unread for up to a
                    # minute after the database came back.
                    self._failed(exc)
                    self.stop.wait(STORAGE_RETRY_SECONDS)
                except FAULTS as exc:
                    self._failed(exc)
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
                except Exception:  # a bug must not end intake for good; logged and retried
                    log.exception("imap.reader_failed mailbox=%s", self.settings.name)
                    self.stop.wait(BACKOFF_MAX_SECONDS)
        finally:
            lock.release()

    def token_expires(self) -> float | None:
        """When the access token in use expires (Unix time), if the token says."""
        return self._token.expires_at if self._token else None

    def _stand_by(self) -> None:
        if not self._standing_by:
            log_event(log, "imap.standby", mailbox=self.settings.name)
            self._standing_by = True
        self.health = Health(last_success=time.monotonic())  # another daemon reads it
        self.stop.wait(STANDBY_SECONDS)

    def _failed(self, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"
        self.health.last_error = error
        self.health.auth_failed = isinstance(exc, LoginError | TokenError)
        log_event(log, "imap.fault", level=logging.WARNING, mailbox=self.settings.name, error=error)

    def _session(self, lock: AdvisoryLock) -> None:
        self._standing_by = False
        client = imap_client.connect(self.settings)
        try:
            self.health.certificate_expires = imap_client.certificate_expiry(client)
            imap_client.login(client, self.settings, self._token)
            uidvalidity = imap_client.select(client, self.settings)
            self._check_uidvalidity(client, uidvalidity)
            while not self.stop.is_set():
                self._take_everything(client, uidvalidity)
                self._succeeded()
                imap_client.wait_for_mail(client, self.settings, self.stop)
                if not lock.still_held():
                    raise LockLost("the database connection holding the mailbox lock was lost")
        finally:
            imap_client.close(client)

    def _succeeded(self) -> None:
        if self.health.last_error:
            log_event(log, "imap.recovered", mailbox=self.settings.name)
        certificate = self.health.certificate_expires
        self.health = Health(time.monotonic(), waiting=0, certificate_expires=certificate)
        if time.monotonic() - self._success_written >= SUCCESS_WRITE_SECONDS:
            self._write_success()

    def _write_success(self) -> None:
        """For the alerts and `gatewayd status`, which read it from the database: any daemon
        sharing it sees when the mailbox was last read to its end (not only when mail came)."""
        with self.store.session() as session:
            state = session.get(ImapMailbox, self.settings.name)
            if state is not None:
                state.last_success_at = utcnow()
        self._success_written = time.monotonic()

    def _check_uidvalidity(self, client: IMAPClient, uidvalidity: int) -> None:
        with self.store.session() as session:
            state = session.get(ImapMailbox, self.settings.name)
            if state is None:
                session.add(ImapMailbox(name=self.settings.name, uidvalidity=uidvalidity))
                return
            if state.uidvalidity == uidvalidity:
                return
            # The server renumbered the folder (RFC 3501 §2.3.1.1): stored UIDs mean nothing
            # now. Mail already stored is still recognised by Message-ID and content hash; in
            # flag mode everything already \Seen counts as taken, so old mail is not re-read.
            highest = imap_client.highest_seen(client) if not self.settings.done_folder else 0
            log_event(
                log,
                "imap.uidvalidity_changed",
                level=logging.WARNING,
                mailbox=self.settings.name,
                old=state.uidvalidity,
                new=uidvalidity,
            )
            state.uidvalidity, state.last_uid = uidvalidity, highest

    # --- taking mail ---

    def _take_everything(self, client: IMAPClient, uidvalidity: int) -> None:
        while not self.stop.is_set():
            uids = self._candidates(client)
            self.health.waiting = len(uids)
            if not uids:
                return
            for batch in imap_client.batches(client, uids):
                self._take_batch(client, uidvalidity, batch)
                if self.stop.is_set():
                    return

    def _candidates(self, client: IMAPClient) -> list[int]:
        last_uid = 0 if self.settings.done_folder else self._last_uid()
        return imap_client.waiting(client, self.settings, last_uid)

    def _last_uid(self) -> int:
        with self.store.reader() as session:
            state = session.get(ImapMailbox, self.settings.name)
            return state.last_uid if state else 0

    def _take_batch(self, client: IMAPClient, uidvalidity: int, uids: list[int]) -> None:
        stored = self._already_stored(uidvalidity, uids)
        wanted = [uid for uid in uids if uid not in stored]
        items = [
            IncomingRaw(
                data=data,
                via="imap",
                source=self.settings.name,
                imap_mailbox=self.settings.name,
                imap_uidvalidity=uidvalidity,
                imap_uid=uid,
            )
            for uid, data in imap_client.fetch(client, wanted).items()
        ]
        self._commit(items, max(uids))
        done = imap_client.mark_done(client, uids, self.settings.done_folder)  # committed
        log_event(
            log,
            "imap.taken",
            mailbox=self.settings.name,
            stored=len(items),
            already_stored=len(stored),
            uids=f"{uids[0]}-{uids[-1]}",
            done=done,
        )
        if items:
            self.count(len(items))
            self.on_stored()

    def _already_stored(self, uidvalidity: int, uids: Sequence[int]) -> set[int]:
        with self.store.reader() as session:
            statement = select(RawMessage.imap_uid).where(
                RawMessage.imap_mailbox == self.settings.name,
                RawMessage.imap_uidvalidity == uidvalidity,
                RawMessage.imap_uid.in_(uids),
            )
            return {int(uid) for uid in session.scalars(statement) if uid is not None}

    def _commit(self, items: list[IncomingRaw], last_uid: int) -> None:
        with self.store.session() as session:  # not urgent: see READER_NICENESS
            insert_raw_rows(session, items)
            state = session.get_one(ImapMailbox, self.settings.name)
            state.last_uid = max(state.last_uid, last_uid)
            state.last_success_at = utcnow()


class MailboxReaders:
    """The reader threads of all [[imap]] mailboxes."""

    def __init__(
        self,
        store: Store,
        on_stored: Callable[[], None],
        count: Callable[[int], None] = lambda stored: None,
    ) -> None:
        self.store = store
        self.on_stored = on_stored
        self.count = count
        self._stop = threading.Event()
        self._readers: list[tuple[MailboxReader, threading.Thread]] = []

    def start(self, mailboxes: Sequence[Imap], microsoft: Microsoft | None = None) -> None:
        for settings in mailboxes:
            reader = MailboxReader(settings, self.store, self.on_stored, self._stop, microsoft)
            reader.count = self.count
            thread = threading.Thread(target=reader.run, name=f"imap-{settings.name}", daemon=True)
            thread.start()
            self._readers.append((reader, thread))

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for _, thread in self._readers:
            thread.join(max(deadline - time.monotonic(), 0.1))

    def readers(self) -> list[MailboxReader]:
        return [reader for reader, _ in self._readers]

    def stalled(self) -> list[tuple[Imap, str]]:
        """Mailboxes not read for 3 × poll, or refusing our login: (settings, why)."""
        found = []
        for reader, _ in self._readers:
            health, settings = reader.health, reader.settings
            silent = time.monotonic() - health.last_success
            if health.auth_failed:
                found.append((settings, f"{LOGIN_REFUSED}: {health.last_error}"))
            elif silent > 3 * settings.poll.total_seconds():
                why = f"not read for {int(silent)}s; last error: {health.last_error or 'none'}"
                found.append((settings, why))
        return found
