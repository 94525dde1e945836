"""Raw bytes → `ParsedMessage`: the one view of a mail that the rest of the gateway works with.

Pure: no I/O. Anything the parser cannot make sense of raises `Unparseable` with a reason, which
the processor turns into a quarantine entry.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from parsers.body import Attachment, attachments_of, body_texts
from parsers.bounces import bounced_recipients
from parsers.kinds import classify
from parsers.quotes import new_text


class Unparseable(Exception):
    """These bytes cannot be used as a mail message; the text says why."""


@dataclass(frozen=True)
class ParsedMessage:
    from_addr: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    date: datetime | None
    kind: str  # normal | auto_reply | bounce | list
    text: str  # the new text, quoted history and signature removed
    full_text: str
    attachments: tuple[Attachment, ...] = ()
    bounced_recipients: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def as_json(self) -> dict[str, object]:
        return {
            "from": self.from_addr,
            "from_name": self.from_name,
            "to": list(self.to),
            "cc": list(self.cc),
            "subject": self.subject,
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
            "date": self.date.isoformat() if self.date else None,
            "kind": self.kind,
            "text": self.text,
            "full_text": self.full_text,
            "attachments": [a.as_json() for a in self.attachments],
            "bounced_recipients": list(self.bounced_recipients),
        }


def parse_message(data: bytes) -> ParsedMessage:
    if not data.strip():
        raise Unparseable("empty message")
    message = _mime_tree(data)
    if not message.keys():
        raise Unparseable("no header fields: this is not a mail message")
    headers = tuple((key, _header_text(message, key, value)) for key, value in message.raw_items())
    from_name, from_addr = _first_address(message, "From")
    kind = classify(message, headers)
    if not from_addr and kind == "normal":
        # Robots may write "From: MAILER-DAEMON <>"; a person's mail needs someone to answer.
        raise Unparseable("no sender address in From:")
    full_text, reply_text = body_texts(message)
    return ParsedMessage(
        from_addr=from_addr,
        from_name=from_name,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        reply_to=_addresses(message, "Reply-To"),
        subject=_one_line(_header(message, "Subject")),
        message_id=next(iter(_message_ids(_header(message, "Message-ID"))), None),
        in_reply_to=next(iter(_message_ids(_header(message, "In-Reply-To"))), None),
        references=tuple(_message_ids(_header(message, "References"))),
        date=_date(_header(message, "Date")),
        kind=kind,
        text=new_text(reply_text),
        full_text=full_text,
        attachments=tuple(attachments_of(message)),
        bounced_recipients=bounced_recipients(message) if kind == "bounce" else (),
        headers=headers,
    )


def _mime_tree(data: bytes) -> EmailMessage:
    """The stdlib's parse; it raises on some inputs (a NUL in a charset parameter makes codec
    lookup fail), so try once more without NUL bytes, then refuse with the reason."""
    for attempt in (data, data.replace(b"\x00", b"")):
        try:
            message = email.message_from_bytes(attempt, policy=email.policy.default)
        except Exception as exc:
            reason = f"the MIME structure cannot be read: {exc.__class__.__name__}: {exc}"
            continue
        assert isinstance(message, EmailMessage)
        return message
    raise Unparseable(reason)


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # the stdlib header parser has raised on odd real-world input
        value = None
    if value is None:  # the raw text then: get_all() parses with the same parser and raises too
        wanted = name.lower()
        raw = next((v for k, v in message.raw_items() if k.lower() == wanted), "")
        return _one_line(str(raw))
    return str(value)


def _header_text(message: EmailMessage, key: str, raw: object) -> str:
    """The header's text with RFC 2047 encoded words decoded. Plain ASCII needs no decoding;
    the stdlib's structured header classes cost a third of the parse, so only where needed."""
    if isinstance(raw, str) and "=?" not in raw and raw.isascii():
        return _one_line(raw)
    try:
        return _one_line(str(message.policy.header_factory(key, raw)))
    except Exception:
        return _one_line(str(raw))


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _addresses(message: EmailMessage, name: str) -> tuple[str, ...]:
    found: list[str] = []
    for _, address in getaddresses([_header(message, name)]):
        address = address.strip().lower()
        if "@" in address and address not in found:
            found.append(address)
    return tuple(found)


def _first_address(message: EmailMessage, name: str) -> tuple[str, str]:
    for display, address in getaddresses([_header(message, name)]):
        if "@" in address:
            return _one_line(display), address.strip().lower()
    return "", ""


_MESSAGE_ID = re.compile(r"<?([!-;=?-~]+@[!-;=?-~]+)>?")  # printable ASCII without < >


def _message_ids(value: str) -> list[str]:
    """Message-IDs in angle brackets; some clients leave the brackets out. Nothing else gets
    through, so an id can be copied into an outgoing header safely."""
    ids = []
    for token in value.replace(",", " ").split():
        match = _MESSAGE_ID.fullmatch(token)
        if match:
            ids.append(f"<{match[1]}>")
    return ids


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
