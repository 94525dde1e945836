"""Hostile and odd input (issue 8): each gets a clear SMTP answer, a ticket or a quarantine entry
in bounded time and memory, and the daemon goes on serving everyone else.

The limits held here are the ones the README lists under "Limits": 100 recipients per message
(452 4.5.3 for the rest), lines of at most 1,000 octets on the SMTP wire (500), smtp.max_size
(552), and an SMTP session closed after 300 s without a command.

The time limits are generous for a loaded 2-core machine, but each is far below what a quadratic
step would take on its input.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway import sender
from gateway.config import load_config
from gateway.storage import Ticket
from tests.e2e.conftest import PARTNER, Gateway, Received, Sink, config_text, mail, wait_for

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
    # No sender can be answered: kept in quarantine, nothing sent.
    (entry,) = quarantined(gateway)
    assert entry["error"] == ["no sender address in From:"]

    sink.wait_for_mail("jan@contoso.example", count=5)
    for received in sink.received:
        notification = received.rcpt_tos[0].endswith("@contoso.example")
        assert_no_injection(received, NOTIFICATION_HEADERS if notification else ACK_HEADERS)
        assert "\n" not in str(received.message["Subject"])
    assert not any(EVIL in r for received in sink.received for r in received.rcpt_tos)


def test_the_sender_refuses_a_value_that_would_add_a_header(tmp_path: Path) -> None:
    """The sender's own guard, reached directly: whatever slips past the parser is not written."""
    path = tmp_path / "config.toml"
    path.write_text(config_text(2525, "127.0.0.1:25"))
    config = load_config(path)
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
        with pytest.raises(sender.UnsafeHeader):
            answer(to)
    with pytest.raises(sender.UnsafeHeader):
        answer("anna@fabrikam.example", thread="<a@fabrikam.example>\nBcc: victim@evil.example")
