"""Raw bytes → `ParsedMessage`: the one view of a mail that the rest of the gateway works with.

Pure: no I/O. What is odd about a mail is recorded in `ParsedMessage.defects`, as the stdlib's
feedparser records its defects; only bytes from which nothing can be read raise `Unparseable`
with a reason, which the processor turns into a quarantine entry.
"""

from __future__ import annotations

import base64
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime

from parsers.body import Attachment, attachments_of, body_texts, main_text, text_parts
from parsers.bounces import bounced_recipients
from parsers.defects import charset_defects, header_charset_defects, mime_defects, unique
from parsers.forwards import Forwarded, attached_forward, forwarded_in, may_hold_forward
from parsers.headers import addresses, header_text
from parsers.kinds import classify
from parsers.mime_tree import (
    TOO_DEEP,
    TooDeep,
    UnreadableMime,
    header_block_only,
    mime_tree,
    parse_bytes,
)
from parsers.quotes import new_text
from parsers.senders import first_address, raw_values, sender_of


class Unparseable(Exception):
    """These bytes cannot be used as a mail message; the text says why."""


# RFC 5322 §2.1.1 limits a line to 998 characters; a longer subject is no person's, and a ticket
# and every mail about it carry the subject.
MAX_SUBJECT = 998
# About thirty pages: what a person writes. A log pasted into the body is cut here (the raw
# message keeps all of it), so routing, the ticket and every notification stay small.
MAX_TEXT = 100_000


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
    # The mail the sender forwarded with a short note ("see below"): the request itself.
    forwarded: Forwarded | None = None
    # What was wrong with the mail and what was assumed ("no From header; From taken from
    # Reply-To"), for the agents; () for a well-formed mail.
    defects: tuple[str, ...] = ()

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
            "forwarded": self.forwarded.as_json() if self.forwarded else None,
            "defects": list(self.defects),
        }


def parse_message(data: bytes, envelope_sender: str | None = None) -> ParsedMessage:
    """`data` read as a mail message. `envelope_sender`: the SMTP MAIL FROM, the last fallback
    for a mail whose From: has no usable address. Raises Unparseable only when nothing can be
    read (no bytes at all); everything else odd is a defect."""
    if not data.strip():
        raise Unparseable("empty message")
    try:
        message, defects = mime_tree(data)
    except TooDeep:
        message, defects = header_block_only(data), [f"{TOO_DEEP}: the body is not read"]
    except UnreadableMime as exc:
        raise Unparseable(str(exc)) from None
    if not message.keys():
        message = _headerless(data)
        defects.append("no header fields: the whole message is read as its text")
    headers = tuple((key, header_text(str(value))) for key, value in message.raw_items())
    kind = classify(message, headers)
    from_name, from_addr, sender_defects = sender_of(message, kind, envelope_sender)
    parts = text_parts(message)
    full_text, reply_text = body_texts(message, parts)
    subject = _header(message, "Subject")[:MAX_SUBJECT]
    text, forwarded = _new_text_and_forward(
        message, full_text, reply_text[:MAX_TEXT], subject, kind
    )
    attachments = tuple(attachments_of(message))
    date_value = _header(message, "Date")
    date = _date(date_value)
    return ParsedMessage(
        from_addr=from_addr,
        from_name=from_name,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        reply_to=_addresses(message, "Reply-To"),
        subject=subject,
        message_id=next(iter(_message_ids(_header(message, "Message-ID"))), None),
        in_reply_to=next(iter(_message_ids(_header(message, "In-Reply-To"))), None),
        references=tuple(_message_ids(_header(message, "References"))),
        date=date,
        kind=kind,
        text=text,
        full_text=full_text[:MAX_TEXT],
        attachments=attachments,
        bounced_recipients=bounced_recipients(message) if kind == "bounce" else (),
        headers=headers,
        forwarded=forwarded,
        defects=unique(
            [
                *sender_defects,
                *defects,
                *mime_defects(message),
                *charset_defects(parts),
                *header_charset_defects(message.raw_items()),
                *_content_defects(full_text, reply_text, date_value, date),
            ]
        ),
    )


def _content_defects(
    full_text: str, reply_text: str, date_value: str, date: datetime | None
) -> Iterator[str]:
    if len(full_text) > MAX_TEXT or len(reply_text) > MAX_TEXT:
        yield f"text cut at {MAX_TEXT} characters (the stored message keeps all of it)"
    if date_value and date is None:
        yield f"unreadable Date header {date_value[:60]!r}"


def _headerless(data: bytes) -> EmailMessage:
    """A message without a single header field: all of it is the body (an MTA delivers such a
    file, adding its own headers above it)."""
    try:
        return parse_bytes(b"\n" + data.replace(b"\x00", b""))
    except Exception as exc:
        raise Unparseable(f"no header fields, and the text cannot be read: {exc}") from None


def _new_text_and_forward(
    message: EmailMessage, full_text: str, reply_text: str, subject: str, kind: str
) -> tuple[str, Forwarded | None]:
    """The new text, and the mail it forwards: in the body (below a separator or a header
    block), else attached as message/rfc822. Only a person forwards: what a bounce or an
    auto-reply carries is the mail it answers."""
    if kind != "normal":
        return new_text(reply_text), None
    found = forwarded_in(reply_text, subject)
    if found is None and may_hold_forward(full_text, subject):
        whole = main_text(message)[:MAX_TEXT]  # HTML: the forward is where history goes
        if whole != reply_text:
            found = forwarded_in(whole, subject)
    if found is not None:
        note, forwarded = found
        return new_text(note), forwarded
    text = new_text(reply_text)
    if message.get_content_type() == "multipart/report":
        return text, None  # a report's attached mail is the one it reports on
    part = attached_forward(message, text, subject)
    inner = _attached_mail(part) if part is not None else None
    return text, (_attached(inner) if inner is not None else None)


def _attached_mail(part: Message) -> EmailMessage | None:
    """The mail inside a message/rfc822 part; RFC 2046 §5.2.1 forbids base64 there, but clients
    encode attached mails so, and the stdlib then reads the encoded text as the mail's body."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    inner = part.get_payload()
    first = inner[0] if isinstance(inner, list) and inner else None
    if encoding in ("base64", "quoted-printable") and isinstance(first, Message):
        encoded = first.get_payload()  # the stdlib took the encoded text for a headerless mail
        if not isinstance(encoded, str):
            return None
        raw = encoded.encode("ascii", "surrogateescape")
        try:
            data = base64.b64decode(raw) if encoding == "base64" else quopri.decodestring(raw)
            return parse_bytes(data) if data.strip() else None
        except Exception:  # binascii.Error, or the stdlib on what it decodes to
            return None
    return first if isinstance(first, EmailMessage) else None


def _attached(inner: EmailMessage) -> Forwarded:
    name, address = first_address(inner, "From")
    return Forwarded(
        from_addr=address,
        from_name=name,
        date=_header(inner, "Date"),
        subject=_header(inner, "Subject")[:MAX_SUBJECT],
        text=new_text(body_texts(inner)[1][:MAX_TEXT]),
    )


def _header(message: EmailMessage, name: str) -> str:
    """The first value of a header as text; '' when there is none."""
    values = raw_values(message, name)
    return header_text(values[0]) if values else ""


def _addresses(message: EmailMessage, name: str) -> tuple[str, ...]:
    """Addresses of all the headers of that name (some clients repeat To:), lower case, once."""
    found = (address.lower() for _, address in addresses(raw_values(message, name)))
    return tuple(dict.fromkeys(a for a in found if "@" in a))


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
