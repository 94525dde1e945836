"""Intake: store raw bytes durably and answer quickly. SMTP here; the pipe is `gatewayd ingest`.

Messages of concurrent SMTP sessions are committed together (group commit): each session waits
for the one transaction that holds its message, then gets 250. No 250 before the commit.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.config import Config
from gateway.intake.smtp_limits import SessionLimits
from gateway.intake.smtp_session import BudgetedSMTP, MemoryBudget, budget_for, peer_text
from gateway.logs import log_event
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.raw_messages import IncomingRaw

log = logging.getLogger("gateway.intake")

RunBlocking = Callable[..., Awaitable[Any]]
_BATCH_LIMIT = 256
# Up to this size a message's identity (gateway/store/raw_messages.py, IncomingRaw.identity) is
# computed on the event loop, in well under a millisecond. A larger one would hold every session
# up (hashing the largest message takes a good part of a second), so the commit thread does it.
_IDENTIFY_INLINE = 256 * 1024


class GroupCommitter:
    """Collects raw messages from many sessions and commits them in one transaction."""

    def __init__(self, store: Store, run_blocking: RunBlocking) -> None:
        self._store = store
        self._run_blocking = run_blocking
        self._queue: asyncio.Queue[tuple[IncomingRaw, asyncio.Future[int | None]]] = asyncio.Queue()
        self.on_commit: Callable[[], None] = lambda: None

    async def store(self, item: IncomingRaw) -> int | None:
        """The raw row id once committed (None for a redelivery); StorageUnavailable if not."""
        if len(item.data) <= _IDENTIFY_INLINE:
            item.identity  # noqa: B018 (computed and kept, here rather than in the transaction)
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def run(self) -> None:
        """The "group-commit" task of the process table (gateway/runtime/services.py), which
        the daemon's supervisor starts, restarts should it fail, and cancels at the stop."""
        while True:
            # No local name holds a batch while the next is awaited: its messages (up to the
            # memory budget's worth) are freed as soon as their senders have their answer.
            await self._commit(await self._next_batch())

    async def _next_batch(self) -> list[tuple[IncomingRaw, asyncio.Future[int | None]]]:
        batch = [await self._queue.get()]
        while not self._queue.empty() and len(batch) < _BATCH_LIMIT:
            batch.append(self._queue.get_nowait())
        return batch

    async def _commit(self, batch: list[tuple[IncomingRaw, asyncio.Future[int | None]]]) -> None:
        try:
            ids = await self._run_blocking(self._store.insert_raw, [item for item, _ in batch])
        except Exception as exc:  # every sender in the batch retries later
            error = exc if isinstance(exc, StorageUnavailable) else StorageUnavailable(str(exc))
            log_event(
                log, "intake.store_failed", level=logging.ERROR, messages=len(batch), error=str(exc)
            )
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), raw_id in zip(batch, ids, strict=True):
            if not future.done():
                future.set_result(raw_id)
        self.on_commit()


class SmtpHandler:
    """aiosmtpd hooks: refuse foreign recipients at RCPT, store at DATA, 250 after the commit."""

    # RFC 5321 §4.5.3.1.8: a server takes at least 100 recipients per message and answers 452
    # for more; the client sends the rest in another transaction, which stores the same message
    # again, and a message stored twice is one entry (storage.message_identity).
    max_recipients = 100

    def __init__(self, config: Config, committer: GroupCommitter) -> None:
        self.config = config
        self.committer = committer
        # Hears each answer that decides a message: accepted, refused (a foreign recipient)
        # or deferred (451); the daemon's /metrics counts them.
        self.count: Callable[[str], None] = lambda outcome: None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain not in self.config.partner.domains:
            log_event(log, "smtp.relay_refused", peer=peer_text(session), rcpt=address)
            self.count("refused")
            return "550 5.7.1 Relaying denied: this server only takes mail for its own domains"
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return f"452 4.5.3 Too many recipients: at most {self.max_recipients} per message"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        item = IncomingRaw(
            data=data,
            via="smtp",
            source=peer_text(session),
            mail_from=_envelope_sender(envelope.mail_from),
            rcpt_to=tuple(r.lower() for r in envelope.rcpt_tos),
        )
        try:
            raw_id = await self.committer.store(item)
        except StorageUnavailable:
            self.count("deferred")
            return "451 4.3.0 Temporary storage failure, please try again later"
        log_event(
            log,
            "smtp.accepted",
            peer=item.source,
            raw=raw_id if raw_id else "duplicate",
            size=len(data),
        )
        self.count("accepted")
        return "250 2.0.0 OK: queued"


def _envelope_sender(mail_from: str | None) -> str:
    """ "" for the null sender of bounces; aiosmtpd gives MAIL FROM:<> as "<>"."""
    return "" if mail_from in (None, "", "<>") else str(mail_from)


def smtp_server_factory(
    handler: SmtpHandler,
    max_size: int,
    timeout: float = 300,
    budget: MemoryBudget | None = None,
    limits: SessionLimits | None = None,
) -> Callable[[], SMTP]:
    """What the listening socket makes of each connection: one aiosmtpd session, all of them
    sharing one memory budget for message data (MemoryBudget, `budget_for(max_size)` unless
    given).

    `timeout`: RFC 5321 §4.5.3.2.7 wants at least 5 minutes for the next command. aiosmtpd
    counts from the last command, so the whole DATA phase must fit in it too (a 25 MB message
    needs 83 kB/s); a client that stalls mid-DATA is cut off then, and nothing is stored. Lines
    over 1,000 octets (RFC 5321 §4.5.3.1.6) get 500 from aiosmtpd, which drops such a message
    as it reads it."""
    hostname = socket.gethostname()  # getfqdn() may wait on DNS, which may not be there
    return functools.partial(
        BudgetedSMTP,
        handler,
        budget=budget or MemoryBudget(budget_for(max_size)),
        limits=limits,
        data_size_limit=max_size,
        enable_SMTPUTF8=True,
        hostname=hostname,
        ident="gatewayd",
        timeout=timeout,
    )
