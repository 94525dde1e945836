"""Mailbox intake over IMAP: one reader thread per [[imap]] mailbox.

A reader takes the backlog, then waits with IDLE (RFC 2177) or polls. Each batch is fetched with
BODY.PEEK[] (nothing is marked read by the fetch), committed, and only then moved to
`done_folder` or flagged \\Seen. The mailbox, UIDVALIDITY and UID of every stored message are
kept, so a crash between the commit and the move makes no duplicate: the next run finds the
message stored and only moves it.

The IMAP commands are in imap_client.py; the threads, their restarts and their CPU priority are
the "imap-reader" row of the process table (gateway/runtime/services.py).
"""

from __future__ import annotations

import logging
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
from gateway.runtime import services
from gateway.runtime.supervisor import Threads
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
# A reader runs below the worker's CPU priority (its row in gateway/runtime/services.py says
# why), and for the same reason its commits do not make the processor end a batch early (not
# `urgent`, gateway/store/).
READER = services.named("imap-reader")


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
        self._lock = AdvisoryLock(store, f"imap:{settings.name}")

    def attempt(self) -> None:
        """One go, run again by the reader's thread (gateway/runtime/supervisor.py,
        `run_with_backoff`) until the daemon stops. Among daemons sharing a PostgreSQL
        database, only the holder of the mailbox's lock reads it; the others stand by and take
        over when it goes."""
        if self._lock.acquire():
            self._session()
        else:
            self._stand_by()

    def retry_after(self, exc: Exception) -> float | None:
        """The wait after a failed go: None for the backoff's (1 s doubling up to a minute)."""
        if isinstance(exc, StorageUnavailable | LockLost):
            # The database, not the mailbox: asking it again is cheap, and a backoff grown
            # during a long outage would leave the mailbox unread for up to a minute after the
            # database came back.
            self._failed(exc)
            return STORAGE_RETRY_SECONDS
        if isinstance(exc, FAULTS):
            self._failed(exc)
            return None
        log.exception("imap.reader_failed mailbox=%s", self.settings.name)  # a bug
        return BACKOFF_MAX_SECONDS

    def release(self) -> None:
        self._lock.release()

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

    def _session(self) -> None:
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
                if not self._lock.still_held():
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
        with self.store.session() as session:  # not urgent: see READER
            insert_raw_rows(session, items)
            state = session.get_one(ImapMailbox, self.settings.name)
            state.last_uid = max(state.last_uid, last_uid)
            state.last_success_at = utcnow()


class MailboxReaders:
    """The reader threads of all [[imap]] mailboxes: the "imap-reader" row of the process table,
    one thread per mailbox, each restarted with a backoff after any fault."""

    def __init__(
        self,
        store: Store,
        on_stored: Callable[[], None],
        mailboxes: Sequence[Imap],
        microsoft: Microsoft | None = None,
        count: Callable[[int], None] = lambda stored: None,
    ) -> None:
        self._threads = Threads(READER)
        self._readers = [
            MailboxReader(settings, store, on_stored, self._threads.stopping, microsoft)
            for settings in mailboxes
        ]
        for reader in self._readers:
            reader.count = count

    def start(self) -> None:
        for reader in self._readers:
            name = f"imap-{reader.settings.name}"
            self._threads.start(name, reader.attempt, reader.retry_after, reader.release)

    def stop(self, timeout: float = 10.0) -> None:
        self._threads.stop(timeout)

    def restart_dead(self) -> list[str]:
        return self._threads.restart_dead()

    def readers(self) -> list[MailboxReader]:
        return list(self._readers)

    def stalled(self) -> list[tuple[Imap, str]]:
        """Mailboxes not read for 3 × poll, or refusing our login: (settings, why)."""
        found = []
        for reader in self._readers:
            health, settings = reader.health, reader.settings
            silent = time.monotonic() - health.last_success
            if health.auth_failed:
                found.append((settings, f"{LOGIN_REFUSED}: {health.last_error}"))
            elif silent > 3 * settings.poll.total_seconds():
                why = f"not read for {int(silent)}s; last error: {health.last_error or 'none'}"
                found.append((settings, why))
        return found
