"""Hostile and odd input (issue 8): each gets a clear SMTP answer, a ticket or a quarantine entry
in bounded time and memory, and the daemon goes on serving everyone else.

The limits held here are the ones docs/OPERATIONS.md lists under "Limits": 100 recipients per
message (452 4.5.3 for the rest), lines of at most 1,000 octets on the SMTP wire (500),
smtp.max_size (552), and an SMTP session closed after 300 s without a command.

The time limits are generous for a loaded 2-core machine, but each is far below what a quadratic
step would take on its input.
"""

from __future__ import annotations

import asyncio
import base64
import os
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Config, load_config
from gateway.delivery import sender, wire
from gateway.intake.smtp import SmtpHandler, smtp_server_factory
from gateway.store.models import Ticket
from gateway.store.raw_messages import IncomingRaw
from tests.e2e.conftest import (
    PARTNER,
    Gateway,
    Received,
    Sink,
    config_text,
    mail,
    wait_for,
)
from tests.e2e.ports import free_port

# A 25 MB attachment is about 34 MB as base64: the daemon must take it.
MAX_SIZE = "36MB"
EVIL = "evil.example"


@pytest.fixture
def roomy(tmp_path: Path, sink: Sink) -> Iterator[Gateway]:
    """The daemon with smtp.max_size raised for large messages."""
    daemon = Gateway(tmp_path, sink)
    text = daemon.config.read_text()
    assert 'max_size = "1MB"' in text
    daemon.config.write_text(text.replace('max_size = "1MB"', f'max_size = "{MAX_SIZE}"'))
    daemon.start()
    yield daemon
    code = daemon.stop()
    assert code == 0, f"gatewayd did not stop cleanly ({code}):\n{daemon.log_text()}"
    assert "Traceback" not in daemon.log_text(), daemon.log_text()


@contextmanager
def within(seconds: float, what: str) -> Iterator[None]:
    """The block must finish in `seconds`; the time is printed for the report (pytest -s)."""
    start = time.monotonic()
    yield
    elapsed = time.monotonic() - start
    print(f"\n{what}: {elapsed:.2f} s")
    assert elapsed < seconds, f"{what} took {elapsed:.1f} s (limit {seconds} s)"


def ticket_about(gateway: Gateway, subject: str, timeout: float = 20.0) -> dict[str, Any]:
    """The ticket with this subject, once processing made it."""

    def found() -> dict[str, Any] | None:
        return next((t for t in gateway.tickets() if t["subject"] == subject), None)

    return dict(wait_for(found, timeout, f"a ticket about {subject!r}"))


def still_served(gateway: Gateway, tag: str, timeout: float = 20.0) -> dict[str, Any]:
    """A normal customer mail still gets 250 and a ticket. Processing goes in order of arrival,
    so once this ticket exists every message stored before it has been handled too."""
    subject = f"Normal request {tag}"
    refused = gateway.send(mail(sender=f"normal-{tag}@tailwind.example", subject=subject))
    assert refused == {}
    return ticket_about(gateway, subject, timeout)


def quarantined(gateway: Gateway) -> list[dict[str, Any]]:
    """The quarantined raw messages with the first line of their reason (replay leaves them
    quarantined when they still cannot be processed)."""
    return [r for r in gateway.json("replay", "--quarantined") if r["state"] == "quarantined"]


def config_in(home: Path) -> Config:
    path = home / "config.toml"
    path.write_text(config_text(free_port(), "127.0.0.1:25"))
    return load_config(path)


def raw_mail(headers: list[bytes], body: bytes = b"Hello,\r\n\r\nIt is broken.\r\n") -> bytes:
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


def standard_headers(sender: bytes, subject: bytes, message_id: bytes) -> list[bytes]:
    return [
        b"From: " + sender,
        b"To: " + PARTNER.encode(),
        b"Subject: " + subject,
        b"Date: Wed, 25 Nov 2026 10:00:00 +0100",
        b"Message-ID: <" + message_id + b"@hostile.example>",
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=utf-8",
    ]


# --- header injection ----------------------------------------------------------------------------

ACK_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
NOTIFICATION_HEADERS = (ACK_HEADERS | {"reply-to"}) - {"in-reply-to", "references"}


def q_word(text: str) -> bytes:
    """An RFC 2047 Q-encoded word with every byte escaped, CR and LF included."""
    return b"=?utf-8?q?" + b"".join(b"=%02X" % byte for byte in text.encode()) + b"?="


def b_word(text: str) -> bytes:
    return b"=?utf-8?b?" + base64.b64encode(text.encode()) + b"?="


INJECTIONS = {
    "q-subject": standard_headers(
        q_word("Anna\r\nBcc: victim@evil.example") + b" <anna@fabrikam.example>",
        q_word("Printer broken\r\nBcc: victim@evil.example\r\nX-Injected: yes"),
        b"inject-1",
    ),
    "b-subject": standard_headers(
        b'"' + b_word("Bob\r\nTo: victim@evil.example") + b'" <bob@fabrikam.example>',
        b_word("Help\r\nTo: victim2@evil.example\r\n\r\nfake body"),
        b"inject-2",
    ),
    # Bare CR and LF inside one SMTP line: some parsers take them for line ends.
    "bare-cr-lf": standard_headers(
        b"Carl <carl@fabrikam.example>",
        b"Question\rBcc: victim@evil.example\nX-Injected: yes",
        b"inject-3",
    ),
    # A list and quoted specials in the name: only carl's own address is the requester.
    "lists": standard_headers(
        b'"victim@evil.example, Dora" <dora@fabrikam.example>, victim@evil.example',
        b"Mail stuck\r\n\tBcc: victim@evil.example",  # folded: plain text once unfolded
        b"inject-4",
    ),
}
# RFC 2047 §5 forbids encoded words in an address; decoded, this one is no address at all.
ENCODED_ADDRESS = standard_headers(
    b"<" + q_word("eve\r\nBcc: victim@evil.example") + b"@fabrikam.example>",
    b"Encoded address",
    b"inject-5",
)


def header_block(received: Received) -> bytes:
    return received.data.split(b"\r\n\r\n", 1)[0]


def assert_no_injection(received: Received, allowed: set[str]) -> None:
    head = header_block(received)
    # Every line end of the header block is CR LF; no lone CR or LF can start a new field.
    assert b"\r" not in head.replace(b"\r\n", b"") and b"\n" not in head.replace(b"\r\n", b"")
    names = [line.split(b":", 1)[0].decode().lower() for line in head.split(b"\r\n")]
    names = [n for n in names if n and not n[0].isspace()]
    assert len(names) == len(set(names)), f"a header appears twice: {names}"
    assert set(names) <= allowed, f"unexpected headers: {set(names) - allowed}"
    assert not any(EVIL in r for r in received.rcpt_tos)
    for name in ("To", "Cc", "Reply-To"):
        assert EVIL not in str(received.message.get(name, ""))


def test_header_injection_adds_no_header_and_no_recipient(gateway: Gateway, sink: Sink) -> None:
    with within(30, "header injection: four messages to acknowledgements"):
        for headers in INJECTIONS.values():
            assert gateway.send(raw_mail(headers), sender="someone@fabrikam.example") == {}
        gateway.send(raw_mail(ENCODED_ADDRESS), sender="eve@fabrikam.example")
        for requester in ("anna", "bob", "carl", "dora"):
            (ack,) = sink.wait_for_mail(f"{requester}@fabrikam.example")
            assert ack.rcpt_tos == [f"{requester}@fabrikam.example"]
        still_served(gateway, "after injection")

    tickets = {t["requester"]: t for t in gateway.tickets()}
    assert tickets["anna@fabrikam.example"]["subject"].startswith("Printer broken Bcc: victim@")
    assert not any(EVIL in requester for requester in tickets)
    # From: has no usable address: the envelope sender is the requester, never the injection.
    assert quarantined(gateway) == []
    (ack,) = sink.wait_for_mail("eve@fabrikam.example")
    assert ack.rcpt_tos == ["eve@fabrikam.example"]

    sink.wait_for_mail("jan@contoso.example", count=5)
    for received in sink.received:
        notification = received.rcpt_tos[0].endswith("@contoso.example")
        assert_no_injection(received, NOTIFICATION_HEADERS if notification else ACK_HEADERS)
        assert "\n" not in str(received.message["Subject"])
    assert not any(EVIL in r for received in sink.received for r in received.rcpt_tos)


def test_the_sender_refuses_a_value_that_would_add_a_header(tmp_path: Path) -> None:
    """The sender's own guard, reached directly: whatever slips past the parser is not written."""
    config = config_in(tmp_path)
    ticket = Ticket(
        number=7, subject="Printer\r\nBcc: victim@evil.example", requester="x@y.example"
    )

    def answer(to: str, thread: str = "<a@fabrikam.example>") -> sender.OutgoingMail:
        return sender.agent_answer(config, ticket, [to], [], "Fixed.", [], [thread])

    subject = answer("anna@fabrikam.example").data.split(b"\r\n\r\n")[0].split(b"\r\n")[2]
    assert subject == b"Subject: Re: [CONTOSO#7] Printer Bcc: victim@evil.example"
    for to in (
        "anna@fabrikam.example\r\nBcc: victim@evil.example",
        "anna@fabrikam.example, victim@evil.example",
        "Big Bug bb@bug.example",
    ):
        with pytest.raises(wire.UnsafeHeader):
            answer(to)
    with pytest.raises(wire.UnsafeHeader):
        answer("anna@fabrikam.example", thread="<a@fabrikam.example>\nBcc: victim@evil.example")


# --- recipients ----------------------------------------------------------------------------------


def test_thousands_of_recipients(gateway: Gateway, sink: Sink) -> None:
    envelope = [f"user{n}@contoso.example" for n in range(5000)]
    with (
        within(60, "5,000 RCPT commands"),
        smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as smtp,
    ):
        refused = smtp.sendmail("anna@fabrikam.example", envelope, mail().as_bytes())
    # RFC 5321 §4.5.3.1.8: the first 100 are taken, the rest get 452 4.5.3 and are retried by
    # the client in another transaction.
    assert sorted(refused) == sorted(envelope[100:])
    assert {code for code, _ in refused.values()} == {452}
    assert all(b"4.5.3" in text for _, text in refused.values())

    listed = [f"colleague{n}@tailwind.example" for n in range(3000)]
    crowded = mail(sender="tom@tailwind.example", subject="Everyone in copy")
    crowded.replace_header("To", ", ".join([PARTNER, *listed[:1500]]))
    crowded["Cc"] = ", ".join(listed[1500:])
    with within(30, "3,000 addresses in To and Cc to a ticket"):
        gateway.send(crowded)
        ticket_about(gateway, "Everyone in copy")
    assert len(gateway.tickets()) == 2
    # Only the requesters hear from the gateway, never the crowd.
    sink.wait_for_mail("tom@tailwind.example")
    still_served(gateway, "after recipients")
    assert not [r for r in sink.received if any("colleague" in a for a in r.rcpt_tos)]


# --- MIME structure ------------------------------------------------------------------------------


def nested_multipart(depth: int, text: bytes) -> bytes:
    """A text part inside `depth` levels of multipart/mixed (headers of the outer level first)."""
    parts = []
    for level in range(depth):
        parts.append(b'Content-Type: multipart/mixed; boundary="level%d"\r\n\r\n' % level)
        parts.append(b"--level%d\r\n" % level)
    parts.append(b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + b"\r\n")
    parts.extend(b"--level%d--\r\n" % level for level in reversed(range(depth)))
    return b"".join(parts)


def wide_multipart(files: int, text: bytes) -> bytes:
    """A text part and `files` small attachments in one multipart/mixed."""
    parts = [b'Content-Type: multipart/mixed; boundary="wide"\r\n\r\n--wide\r\n']
    parts.append(b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + b"\r\n")
    for n in range(files):
        parts.append(
            b"--wide\r\nContent-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="log%05d.txt"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\nQUJD\r\n" % n
        )
    parts.append(b"--wide--\r\n")
    return b"".join(parts)


def mime_mail(sender: bytes, subject: bytes, mime: bytes) -> bytes:
    """Headers of a customer mail, then a MIME entity (its own headers and body)."""
    headers = standard_headers(sender, subject, subject.replace(b" ", b"-"))[:-1]
    return b"\r\n".join(headers) + b"\r\n" + mime


def test_deep_and_wide_multiparts(roomy: Gateway, sink: Sink) -> None:
    deep = mime_mail(b"anna@fabrikam.example", b"Deep", nested_multipart(100, b"Innermost text"))
    wide = mime_mail(b"bob@fabrikam.example", b"Wide", wide_multipart(10_000, b"See the logs."))
    deeper = mime_mail(b"carl@fabrikam.example", b"Deeper", nested_multipart(5000, b"Lost"))
    with within(60, "100-deep, 10,000-part and 5,000-deep multiparts processed"):
        for data in (deep, wide, deeper):
            assert roomy.send(data, sender="x@fabrikam.example") == {}
        still_served(roomy, "after multiparts", timeout=60)
    texts = {
        t["subject"]: roomy.ticket(t["number"])["messages"][0]["text"] for t in roomy.tickets()
    }
    assert texts["Deep"] == "Innermost text"
    assert texts["Wide"] == "See the logs."
    notification = sink.wait_for_mail("jan@contoso.example", count=2)[1]
    assert "log09999.txt" in notification.message.get_content()
    # 5,000 levels: only its header block is read, and the agents are told why the text is gone.
    assert texts["Deeper"] == ""
    assert quarantined(roomy) == []
    deeper_ticket = next(t for t in roomy.tickets() if t["subject"] == "Deeper")
    (defects,) = [
        e for e in roomy.ticket(deeper_ticket["number"])["events"] if e["what"] == "defects"
    ]
    assert defects["defects"] == ["MIME parts nested deeper than 200 levels: the body is not read"]


# --- size and lines ------------------------------------------------------------------------------


def attachment_mail(sender: str, subject: str, attachment: bytes) -> bytes:
    """A customer mail with `attachment` as a base64 file (76-character lines, CRLF)."""
    encoded = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    head = standard_headers(sender.encode(), subject.encode(), os.urandom(8).hex().encode())[:-1]
    return (
        b"\r\n".join(head)
        + b'\r\nContent-Type: multipart/mixed; boundary="big"\r\n\r\n--big\r\n'
        + b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe export is attached.\r\n"
        + b"--big\r\nContent-Type: application/zip\r\n"
        + b'Content-Disposition: attachment; filename="export.zip"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + encoded
        + b"--big--\r\n"
    )


def send_slowly_allowed(gateway: Gateway, data: bytes, sender: str) -> dict[str, Any]:
    """smtplib with room for a large message's commit on a loaded machine."""
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=180) as smtp:
        return smtp.sendmail(sender, [PARTNER], data)


def test_a_25_MB_attachment_and_a_message_over_the_limit(roomy: Gateway, sink: Sink) -> None:
    data = attachment_mail("anna@fabrikam.example", "Export attached", os.urandom(25_000_000))
    assert 33_000_000 < len(data) < 36_000_000
    with within(90, "a 25 MB attachment (34 MB message) to a ticket"):
        assert send_slowly_allowed(roomy, data, "anna@fabrikam.example") == {}
        ticket_about(roomy, "Export attached", timeout=90)
    (notification,) = sink.wait_for_mail("jan@contoso.example")
    assert "export.zip" in notification.message.get_content()

    too_big = data + (b"x" * 76 + b"\r\n") * 30_000  # over smtp.max_size = 36MB
    with within(30, "a 37 MB message refused"), smtplib.SMTP("127.0.0.1", roomy.port) as smtp:
        smtp.ehlo()
        smtp.mail("anna@fabrikam.example")  # no SIZE=: the limit is found while reading
        smtp.rcpt(PARTNER)
        code, _ = smtp.data(too_big)
        assert code == 552
    still_served(roomy, "after 25 MB")


def long_line_mail(subject: str, line_length: int) -> bytes:
    headers = standard_headers(
        b"anna@fabrikam.example", subject.encode(), b"long-" + subject[:4].encode()
    )
    return raw_mail(headers, b"Hello,\r\n\r\nThe log says:\r\n" + b"x" * line_length + b"\r\n")


def test_lines_of_megabytes(gateway: Gateway, sink: Sink) -> None:
    with (
        within(30, "a 5 MB line refused over SMTP"),
        smtplib.SMTP("127.0.0.1", gateway.port) as smtp,
    ):
        smtp.ehlo()
        smtp.mail("anna@fabrikam.example")
        smtp.rcpt(PARTNER)
        # RFC 5321 §4.5.3.1.6: 1,000 octets a line. The same session goes on afterwards.
        code, text = smtp.data(long_line_mail("Long line", 5_000_000))
        assert (code, text[:18]) == (500, b"Line too long (see")
        assert (
            smtp.sendmail(
                "bob@fabrikam.example", [PARTNER], mail(subject="Same session").as_bytes()
            )
            == {}
        )
    ticket_about(gateway, "Same session")

    # A mail pipe or a mailbox has no line limit: the parser copes with what it gets.
    piped = long_line_mail("Piped long line", 5_000_000)
    subject = b"Subject: " + b"very " * 200_000
    piped = piped.replace(b"Subject: Piped long line", subject.strip() + b" long subject")
    with within(60, "a 5 MB body line and a 1 MB subject line piped in, to a ticket"):
        result = gateway.cli("ingest", input=piped)
        assert result.returncode == 0, result.stderr
        still_served(gateway, "after long lines", timeout=60)
    (ticket,) = [t for t in gateway.tickets() if t["subject"].startswith("very very")]
    assert len(ticket["subject"]) <= 1000
    text = gateway.ticket(ticket["number"])["messages"][0]["text"]
    assert text.startswith("Hello,\n\nThe log says:\nxxx")


# --- NUL bytes and invalid UTF-8 ------------------------------------------------------------------


def test_nul_bytes_and_invalid_utf8_in_headers(gateway: Gateway, sink: Sink) -> None:
    broken = [
        b"From: \xff\xfe Ann\x00a \xc3 <anna@fabrikam.example>",
        b"To: " + PARTNER.encode(),
        b"Subject: Caf\xe9 \xff\xfe\x00 kapot \xc3\x28",
        b"X-Bro\x00ken: \x00\x00\xff",
        b"Message-ID: <nul-1@hostile.example>",
        b"Content-Type: text/plain; charset=utf-8",
    ]
    body = b"Regel \x00 een\r\nongeldig \xff\xfe utf-8\r\n"
    # 8-bit bytes in the address itself: RFC 6531 mail that could only be answered with SMTPUTF8.
    eight_bit = standard_headers(b"Jos\xe9 <jos\xe9@fabrikam.example>", b"Adres", b"nul-2")
    with within(30, "NUL bytes and invalid UTF-8 to tickets"):
        assert gateway.send(raw_mail(broken, body), sender="anna@fabrikam.example") == {}
        assert gateway.send(raw_mail(eight_bit), sender="jose@fabrikam.example") == {}
        still_served(gateway, "after NUL bytes")

    first, second = gateway.tickets()[:2]
    assert first["requester"] == "anna@fabrikam.example"
    assert first["subject"] == "Café ÿþ kapot Ã("  # too few bytes to tell: Windows-1252
    text = gateway.ticket(first["number"])["messages"][0]["text"]
    assert "\x00" not in text and text.startswith("Regel") and "ongeldig" in text
    (ack,) = sink.wait_for_mail("anna@fabrikam.example")
    assert "kapot" in ack.message["Subject"]
    # An internationalised address (RFC 6531) is answered with SMTPUTF8, its To: in UTF-8.
    assert second["subject"] == "Adres" and second["requester"] == "josé@fabrikam.example"
    (ack,) = sink.wait_for_mail("josé@fabrikam.example")
    assert ack.rcpt_tos == ["josé@fabrikam.example"]
    assert b"\r\nTo: jos\xc3\xa9@fabrikam.example\r\n" in header_block(ack)


# --- slow clients --------------------------------------------------------------------------------


class Session:
    """An SMTP client that can stop halfway, as smtplib cannot."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.replies = self.socket.makefile("rb")
        self.expect(b"220")

    def command(self, line: bytes, code: bytes) -> None:
        self.socket.sendall(line + b"\r\n")
        self.expect(code)

    def expect(self, code: bytes) -> None:
        while (reply := self.replies.readline())[3:4] == b"-":
            pass
        assert reply.startswith(code), reply

    def start_data(self, sender: str) -> None:
        self.command(b"EHLO slow.example", b"250")
        self.command(f"MAIL FROM:<{sender}>".encode(), b"250")
        self.command(f"RCPT TO:<{PARTNER}>".encode(), b"250")
        self.command(b"DATA", b"354")

    def closed_by_server(self) -> bool:
        return self.socket.recv(1) == b""

    def close(self) -> None:
        self.replies.close()
        self.socket.close()


def test_a_client_stalling_mid_data_holds_up_nobody(gateway: Gateway) -> None:
    stalled = Session(gateway.port)
    try:
        stalled.start_data("slow@fabrikam.example")
        half = mail(sender="slow@fabrikam.example", subject="Stalled").as_bytes()
        stalled.socket.sendall(half[: len(half) // 2])
        with within(30, "three sessions served beside a stalled one"):
            for n in range(3):
                still_served(gateway, f"beside a stall {n}")
    finally:
        stalled.close()  # gone mid-DATA: nothing of it is stored
    still_served(gateway, "after the stall")
    assert not [t for t in gateway.tickets() if t["subject"] == "Stalled"]
    assert quarantined(gateway) == []


class Committed:
    """Stands in for the group committer: keeps what a session would have stored."""

    def __init__(self) -> None:
        self.items: list[IncomingRaw] = []

    async def store(self, item: IncomingRaw) -> int:
        self.items.append(item)
        return len(self.items)


@contextmanager
def smtp_intake(config: Config, timeout: float) -> Iterator[tuple[int, Committed]]:
    """The daemon's SMTP intake (handler and session factory) on a loop in a thread, with a
    short idle timeout: the daemon's 300 s would make a slow test."""
    committed = Committed()
    factory = smtp_server_factory(SmtpHandler(config, committed), 10**6, timeout=timeout)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(
        loop.create_server(factory, "127.0.0.1", 0), loop
    ).result(10)
    try:
        yield server.sockets[0].getsockname()[1], committed
    finally:
        asyncio.run_coroutine_threadsafe(_closed(server), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def _closed(server: asyncio.Server) -> None:
    server.close()  # in the loop's thread: asyncio servers are not thread-safe
    await server.wait_closed()


def test_a_session_stalled_mid_data_is_cut_off_after_the_timeout(tmp_path: Path) -> None:
    with smtp_intake(config_in(tmp_path), timeout=1.0) as (port, committed):
        stalled = Session(port)
        try:
            stalled.start_data("slow@fabrikam.example")
            stalled.socket.sendall(b"Subject: Stalled\r\n\r\nhalf a mes")
            with within(10, "a stalled session closed by the server"):
                assert stalled.closed_by_server()
        finally:
            stalled.close()
        assert committed.items == []
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            assert smtp.sendmail("anna@fabrikam.example", [PARTNER], mail().as_bytes()) == {}
        assert len(committed.items) == 1


# --- memory --------------------------------------------------------------------------------------


def tree_memory(root: int) -> int:
    """Memory of a process and all its descendants (the daemon runs its worker as a child, and
    the worker its parser stage)."""
    return sum(memory_by_process(root).values())


def memory_by_process(root: int) -> dict[int, int]:
    """The proportional set size (Pss) of a process and each of its descendants, found by the
    parent pid in /proc/*/stat. Not the resident size: the worker is forked from the fork
    server (gateway/runtime/forkserver.py) and shares its imported code with it, which a sum of
    resident sizes would count twice; the sum of Pss is what the tree takes of the machine's
    memory."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        found[pid] = _pss(pid)
    return found


def _pss(pid: int) -> int:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    line = next((line for line in rollup.splitlines() if line.startswith("Pss:")), "Pss: 0 kB")
    return int(line.split()[1]) * 1024


class PeakMemory(threading.Thread):
    """Samples the memory (Pss) of a process tree every 50 ms until stopped: `peak` is the
    highest sum, `peaks` the highest of each process on its own."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.peaks: dict[int, int] = {}
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            sample = memory_by_process(self.pid)
            self.peak = max(self.peak, sum(sample.values()))
            for pid, size in sample.items():
                self.peaks[pid] = max(self.peaks.get(pid, 0), size)
            self.samples += 1

    def report(self) -> str:
        each = ", ".join(
            f"{'daemon' if pid == self.pid else f'child {pid}'} {size / 1e6:.0f} MB"
            for pid, size in self.peaks.items()
        )
        return f"{self.peak / 1e6:.0f} MB (alone: {each}; {self.samples} samples)"

    def __enter__(self) -> PeakMemory:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join(5)


def test_ten_25_MB_messages_at_once_stay_under_400_MB(
    roomy: Gateway, record_property: Callable[[str, object], None]
) -> None:
    """The daemon holds at most its memory budget (100 MB, the store's copies of the message
    it writes included) of message data at once; the other sessions wait, stalled by TCP flow
    control (docs/OPERATIONS.md, Limits). The worker parses one message at a time."""
    assert roomy.process is not None
    attachment = os.urandom(18_500_000)  # about 25 MB once encoded
    messages = [
        attachment_mail(f"user{n}@fabrikam.example", f"Large export {n}", attachment)
        for n in range(10)
    ]
    assert all(24_500_000 < len(m) < 26_000_000 for m in messages)
    idle = tree_memory(roomy.process.pid)
    with (
        within(120, "ten 25 MB messages at once to ten tickets"),
        PeakMemory(roomy.process.pid) as memory,
    ):
        with ThreadPoolExecutor(10) as senders:
            sent = senders.map(
                lambda m: send_slowly_allowed(roomy, m, "x@fabrikam.example"), messages
            )
            assert list(sent) == [{}] * 10
        roomy.wait_for_tickets(10, timeout=120)
    still_served(roomy, "after ten 25 MB")
    after = tree_memory(roomy.process.pid)
    print(
        f"\npeak memory (Pss) of the daemon's process tree: {memory.report()}; "
        f"idle {idle / 1e6:.0f} MB before, {after / 1e6:.0f} MB after"
    )
    record_property("peak_pss_mb", round(memory.peak / 1e6))
    record_property("pss_after_mb", round(after / 1e6))
    assert memory.samples > 20
    assert memory.peak < 400e6, f"peak {memory.report()}; issue 8 asks for < 400 MB"
