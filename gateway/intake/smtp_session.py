"""An aiosmtpd session whose DATA is read into one buffer, held against a memory budget shared
by all sessions: aiosmtpd read each message as one bytearray per line, several times its size
(issue 8, docs/PERFORMANCE.md). What the session does with a message is gateway/intake/smtp.py's.
"""

from __future__ import annotations

import asyncio
import enum
import io
import logging
import re
import time
import typing
from dataclasses import dataclass, field
from typing import Any, AnyStr

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from gateway.intake.smtp_limits import SessionLimits
from gateway.logs import log_event
from gateway.runtime import heap
from gateway.store.raw_messages import STORAGE_COPIES

log = logging.getLogger("gateway.intake")

# --- the memory budget for message data ----------------------------------------------------------

# Sessions reading their own data at once took several times the messages' size in memory
# (issue 8; figures in docs/PERFORMANCE.md).
# By default 100 MB, or what one message of a larger smtp.max_size needs with its copies.
BUDGET_BYTES = 100 * 10**6
# The budget keeps room for the copies the store's driver makes of the message it writes
# (STORAGE_COPIES), so that smtp.memory bounds all the message data in the daemon: the sessions
# share what is left, and at least one message of smtp.max_size.
# A session that states no SIZE= asks for this much at a time as its message grows.
BUDGET_STEP = 64 * 1024
# How long a session waits for memory before it answers 452. Below the 120 s a client gives
# the DATA command (RFC 5321 §4.5.3.2.5) and the 180 s it gives each block of data (§4.5.3.2.6).
BUDGET_PATIENCE = 60.0
# Freed memory is handed back to the system once the budget is unused again after this much.
TRIM_AFTER = 10 * 10**6


def budget_for(max_size: int, memory: int = 0) -> int:
    """What the SMTP sessions may hold at once: `memory` (smtp.memory; 0 for the default) less
    the room the store needs to write the largest message, and always one such message."""
    total = memory or max(BUDGET_BYTES, (1 + STORAGE_COPIES) * max_size)
    return max(total - STORAGE_COPIES * max_size, max_size)


class OutOfBudget(Exception):
    """No memory for this message in time: the session answers 452 and its client retries."""


@dataclass(eq=False)
class Allowance:
    """What one DATA phase holds of the budget."""

    budget: MemoryBudget
    held: int = 0

    async def grow(self, amount: int, *, in_data: bool) -> None:
        await self.budget.take(self, amount, in_data)

    def release(self) -> None:
        self.budget.give_back(self)


@dataclass(eq=False)
class _Request:
    allowance: Allowance
    amount: int
    in_data: bool
    future: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class MemoryBudget:
    """Bytes of message data the SMTP sessions hold at once: in DATA or waiting for the commit.

    A session asks before it reads: at DATA for the size its client declared (SIZE=, RFC 1870;
    smtplib, Postfix and Exim declare it), or a step at a time. When the budget is spent it
    waits and reads no more; TCP flow control then holds its client. Sessions already in DATA
    go before sessions that are not (finishing them frees memory), each group in arrival order.

    Waiting is bounded. When every byte in use belongs to sessions waiting for more, none of
    them can finish: the newest gives way at once. Otherwise a session waits at most
    `patience` seconds. One that gives way answers 452 4.3.1 and its client sends it again
    later: nothing is lost, and nothing gets 250 before its commit.
    """

    def __init__(self, capacity: int, patience: float = BUDGET_PATIENCE) -> None:
        self.capacity = capacity
        self.patience = patience
        self.in_use = 0
        self._waiting: list[_Request] = []  # those in DATA first
        self._since_trim = 0

    async def take(self, allowance: Allowance, amount: int, in_data: bool) -> None:
        amount = min(amount, self.capacity - allowance.held)
        if amount <= 0:
            raise OutOfBudget("a message larger than the whole budget")
        request = _Request(allowance, amount, in_data)
        self._enqueue(request)
        try:
            self._serve()
            if not request.future.done():
                async with asyncio.timeout(self.patience):
                    await request.future
            request.future.result()
        except TimeoutError:
            raise OutOfBudget(f"no memory within {self.patience:.0f} s") from None
        finally:
            if request in self._waiting:
                self._waiting.remove(request)
                self._serve()  # those behind it may fit now

    def give_back(self, allowance: Allowance) -> None:
        self.in_use -= allowance.held
        allowance.held = 0
        self._serve()
        if self.in_use == 0 and self._since_trim > TRIM_AFTER:
            self._since_trim = 0
            heap.trim()

    def _enqueue(self, request: _Request) -> None:
        in_data = sum(1 for waiting in self._waiting if waiting.in_data)
        self._waiting.insert(in_data if request.in_data else len(self._waiting), request)

    def _serve(self) -> None:
        while self._waiting and self.in_use + self._waiting[0].amount <= self.capacity:
            request = self._waiting.pop(0)
            if not request.future.done():  # done: cancelled with its session
                request.allowance.held += request.amount
                self.in_use += request.amount
                self._since_trim += request.amount
                request.future.set_result(None)
        self._break_deadlock()

    def _break_deadlock(self) -> None:
        in_data = [r for r in self._waiting if r.in_data and not r.future.done()]
        if in_data and self.in_use == sum(r.allowance.held for r in in_data):
            newest = in_data[-1]
            self._waiting.remove(newest)
            newest.future.set_exception(OutOfBudget("every session holding memory waits"))


class _Refusal(enum.Enum):
    """Why a DATA phase is read to its end and dropped; the reply is sent after the end of
    data, as aiosmtpd does (RFC 5321 §4.2.5)."""

    NO_MEMORY = "452 4.3.1 Insufficient system storage"
    TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
    TOO_MUCH = "552 5.3.4 Error: Too much mail data"


class BudgetedSMTP(SMTP):
    """aiosmtpd's session with DATA read into one buffer held against a MemoryBudget.

    aiosmtpd keeps DATA as one bytearray per line and joins them: about 70 MB for a 25 MB
    message. Everything else is aiosmtpd's: dot-unstuffing, the line length limit, the size
    limit, the timeout. decode_data is not supported, nor the deprecated process_message."""

    def __init__(
        self,
        handler: Any,
        *,
        budget: MemoryBudget,
        limits: SessionLimits | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self.budget = budget
        self.limits = limits
        self._counted_ip: str | None = None  # the session counts against `limits` for it
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        starttls = self.transport is not None  # the same session, now over TLS
        if self.limits is not None and not starttls:
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if isinstance(peer, tuple) else str(peer)
            refusal = self.limits.admit(ip)
            if refusal is not None:
                self._refused = True
                # uvloop's transports are not asyncio.WriteTransport subclasses, but write alike
                typing.cast(asyncio.WriteTransport, transport).write(refusal)
                transport.close()
                return
            self._counted_ip = ip
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return  # aiosmtpd never saw this connection
        if self.limits is not None and self._counted_ip is not None:
            self.limits.release(self._counted_ip)
            self._counted_ip = None
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        """The client closed its side: close ours. aiosmtpd cancels the session's task and
        keeps the connection half open (StreamReaderProtocol's True); a task cancelled before
        it ran never closes it, so a client that connects and closes at once held a socket,
        and a place under smtp.max_sessions, until smtp.timeout."""
        if not self._refused:
            super().eof_received()
        return False

    async def push(self, status: AnyStr) -> None:
        """aiosmtpd's own 552 (SIZE= over the limit at MAIL FROM) has no enhanced status code
        (RFC 3463: 5.3.4, message too big for system)."""
        if isinstance(status, str) and status.startswith("552 Error:"):
            status = status.replace("552 Error:", "552 5.3.4 Error:", 1)  # type: ignore[assignment]
        await super().push(status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """The address and parameters of MAIL FROM or RCPT TO, as aiosmtpd's own method gives
        them. That one parses with the email package's header parser and defines a class on
        each call: a fifth of intake's CPU time (bench/smtp_intake.py). Plain `<local@domain>`,
        which is nearly all mail, is matched here; anything else goes to aiosmtpd."""
        plain = _PLAIN_PATH.match(arg)
        if plain is None or plain["rest"].startswith("("):  # a comment after the address
            return super()._getaddr(arg)  # type: ignore[no-any-return]
        address = plain["address"]
        if self.local_part_limit and address.rindex("@") > self.local_part_limit:
            return None, None
        return address, plain["rest"]

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        allowance = Allowance(self.budget)
        try:
            status = await self._receive(allowance)
        finally:
            allowance.release()  # the message is stored or dropped by now
        await self.push(status)

    async def _receive(self, allowance: Allowance) -> str:
        """The reply to DATA: the handler's, or a refusal."""
        assert self.envelope is not None
        started = time.monotonic()
        try:
            await allowance.grow(_declared_size(self.envelope) or BUDGET_STEP, in_data=False)
        except OutOfBudget as exc:
            return self._no_memory(exc, started)
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        content = await self._read_data(allowance)
        if isinstance(content, _Refusal):
            self._set_post_data_state()
            return content.value
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        return "250 OK" if status is MISSING else str(status)

    async def _read_data(self, allowance: Allowance) -> bytes | _Refusal:
        """The message up to the lone dot, dot-unstuffed (RFC 5321 §4.5.2), in one buffer."""
        buffer, refusal = io.BytesIO(), None
        size, at_line_start = 0, True
        while self.transport is not None:
            line = await self._read_line()
            if line is None:  # the first part of a line over the limit
                refusal, at_line_start = _worse(refusal, _Refusal.TOO_LONG), False
                continue
            if at_line_start and line == b".\r\n":
                break
            size += len(line)
            whole, at_line_start = at_line_start, line.endswith(b"\r\n")
            if not whole:  # the rest of a line over the limit
                continue
            refused = await self._refusal(refusal, allowance, size, len(line))
            if refused and not refusal:  # drop what was read; others may use its memory
                buffer = io.BytesIO()
                allowance.release()
            refusal = refused
            if not refusal:
                buffer.write(line[1:] if line.startswith(b".") else line)
        return refusal or buffer.getvalue()  # getvalue() shares the buffer, it does not copy

    async def _read_line(self) -> bytes | None:
        """One line with its CR LF; None (after reading it) for the first part of a line over
        the limit, as aiosmtpd reads it."""
        try:
            return await self._reader.readuntil(b"\r\n")
        except asyncio.CancelledError:  # the connection went away during DATA
            log_event(log, "smtp.lost_in_data", peer=peer_text(self.session))
            self._writer.close()
            raise
        except asyncio.LimitOverrunError as exc:
            await self._reader.read(exc.consumed)
            return None

    async def _refusal(
        self, refusal: _Refusal | None, allowance: Allowance, size: int, line: int
    ) -> _Refusal | None:
        """Why this message must be dropped, now that `size` bytes of it have been read; room
        in the budget for them when it need not."""
        if self.data_size_limit and size > self.data_size_limit:
            return _worse(refusal, _Refusal.TOO_MUCH)
        if refusal:
            return refusal
        if line > self.line_length_limit:  # aiosmtpd's defence; the reader's limit comes first
            return _Refusal.TOO_LONG
        if size <= allowance.held:
            return None
        started = time.monotonic()
        try:
            await allowance.grow(max(BUDGET_STEP, size - allowance.held), in_data=True)
        except OutOfBudget as exc:
            self._no_memory(exc, started)
            return _Refusal.NO_MEMORY
        return None

    def _no_memory(self, exc: OutOfBudget, started: float) -> str:
        log_event(
            log,
            "smtp.no_memory",
            level=logging.WARNING,
            peer=peer_text(self.session),
            why=str(exc),
            waited=f"{time.monotonic() - started:.1f}",
            in_use=self.budget.in_use,
        )
        return _Refusal.NO_MEMORY.value


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"  # RFC 5322 §3.2.3
_PLAIN_PATH = re.compile(
    rf"<(?P<address>{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*(?P<rest>.*)",
    re.DOTALL,
)


def _worse(refusal: _Refusal | None, new: _Refusal) -> _Refusal:
    """A permanent refusal (500, 552) outranks 452: retrying such a message cannot help."""
    return new if refusal in (None, _Refusal.NO_MEMORY) else refusal


def _declared_size(envelope: Envelope) -> int:
    """The SIZE= of MAIL FROM (RFC 1870), which aiosmtpd checked against data_size_limit."""
    for option in envelope.mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


def peer_text(session: Session | None) -> str:
    peer = session.peer if session else ""
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
