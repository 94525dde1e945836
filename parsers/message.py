"""Raw bytes → `ParsedMessage`: the one view of a mail that the rest of the gateway works with.

Pure: no I/O. What is odd about a mail is recorded in `ParsedMessage.defects`, as the stdlib's
feedparser records its defects; only bytes from which nothing can be read raise `Unparseable`
with a reason, which the processor turns into a quarantine entry.
"""

from __future__ import annotations

import base64
import email
import email.errors
import email.feedparser
import email.policy
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
from parsers.quotes import new_text
from parsers.senders import first_address, raw_values, sender_of


class Unparseable(Exception):
    """These bytes cannot be used as a mail message; the text says why."""


class _TooDeep(Unparseable):
    """The MIME tree is nested beyond MAX_DEPTH: only the header block is read."""


# RFC 5322 §2.1.1 limits a line to 998 characters; a longer subject is no person's, and a ticket
# and every mail about it carry the subject.
MAX_SUBJECT = 998
# About thirty pages: what a person writes. A log pasted into the body is cut here (the raw
# message keeps all of it), so routing, the ticket and every notification stay small.
MAX_TEXT = 100_000
# Mail clients nest a few levels (a forward of a signed reply is five or six). The stdlib parses
# the tree recursively and the stages after it walk it recursively, so a deeper tree is refused
# with this reason before any stage reaches Python's recursion limit.
MAX_DEPTH = 200
_TOO_DEEP = f"MIME parts nested deeper than {MAX_DEPTH} levels"


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
        message, defects = _mime_tree(data)
    except _TooDeep:
        message, defects = _header_block_only(data), [f"{_TOO_DEEP}: the body is not read"]
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


def _header_block_only(data: bytes) -> EmailMessage:
    """The header block without the body: what can be read of a message whose MIME tree the
    stages after the parser could not walk."""
    head = re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0] + b"\r\n"
    # Nothing of the declared tree is there: without its Content-Type the message is empty text.
    head = _CONTENT_TYPE_FIELD.sub(b"", head)
    return _parsed(head + b"\r\n")


_CONTENT_TYPE_FIELD = re.compile(rb"(?im)^content-type[ \t]*:.*\n(?:[ \t].*\n)*")


def _headerless(data: bytes) -> EmailMessage:
    """A message without a single header field: all of it is the body (an MTA delivers such a
    file, adding its own headers above it)."""
    try:
        return _parsed(b"\n" + data.replace(b"\x00", b""))
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
            return _parsed(data) if data.strip() else None
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


# compat32 keeps header values as the strings they came as; policy.default builds a structured
# header object at every get(), which made up half of the parse time (bench/parse.py). Headers
# are decoded by parsers/headers.py instead; EmailMessage still gives get_body().
_POLICY = email.policy.compat32
# BytesParser decodes the whole message to one string and splits all of it into lines before
# parsing: a 25 MB message took 200 MB. Fed in pieces, the parser holds only the part it reads.
_FEED_CHUNK = 1 << 16


def _parsed(data: bytes) -> EmailMessage:
    parser = email.feedparser.BytesFeedParser(_factory=EmailMessage, policy=_POLICY)
    view = memoryview(data)
    for start in range(0, len(data), _FEED_CHUNK):
        parser.feed(bytes(view[start : start + _FEED_CHUNK]))
    message = parser.close()
    assert isinstance(message, EmailMessage)
    return message


def _mime_tree(data: bytes) -> tuple[EmailMessage, list[str]]:
    """The stdlib's parse, and what was repaired to make it. The stdlib raises on some inputs (a
    NUL in a charset parameter makes codec lookup fail), so try once more without NUL bytes,
    then refuse with the reason."""
    repairs: list[str] = []
    if b"\r" in data[:8192] and b"\n" not in data[:8192]:
        # CR-only line ends (classic Mac OS): the stdlib splits on them, but every part's text
        # would keep them, and the bounce detectors read lines.
        data = data.replace(b"\r", b"\n")
    for attempt in (data, data.replace(b"\x00", b"")):
        try:
            message = _parsed(attempt)
        except RecursionError:
            raise _TooDeep(_TOO_DEEP) from None
        except Exception as exc:
            reason = f"the MIME structure cannot be read: {exc.__class__.__name__}: {exc}"
            repairs.append("NUL bytes removed")
            continue
        if _depth(message) > MAX_DEPTH:
            raise _TooDeep(_TOO_DEEP)
        if _header_block_broken(message):
            repaired = _repaired_header_block(attempt)
            if repaired != attempt:
                message, more = _mime_tree(repaired)
                note = "lines that are not header fields dropped from the header block"
                return message, [*repairs, note, *more]
        if any(isinstance(d, _BOUNDARY_DEFECTS) for d in message.defects) or _lost_mime(message):
            repaired = _repaired_boundary(attempt)
            if repaired != attempt:
                message, more = _mime_tree(repaired)
                note = "the declared MIME boundary is not used: parts split where the body does"
                return message, [*repairs, note, *more]
        return message, repairs
    raise Unparseable(reason)


def _depth(message: Message) -> int:
    """How deep the MIME tree goes, without recursion."""
    deepest, todo = 0, [(message, 1)]
    while todo:
        part, depth = todo.pop()
        deepest = max(deepest, depth)
        if part.is_multipart():  # a leaf's payload is not asked for: its charset may be junk
            children = part.get_payload()
            todo.extend((child, depth + 1) for child in children if isinstance(child, Message))
    return deepest


_BOUNDARY_DEFECTS = (
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.NoBoundaryInMultipartDefect,
)
_BOUNDARY_PARAMETER = re.compile(rb"boundary\s*=\s*(?:\"[^\"]*\"|[^;\r\n]*)", re.IGNORECASE)
_DELIMITER_LINE = re.compile(rb"^--([0-9A-Za-z'()+_,./:=? -]{1,70}?)[ \t]*\r?$", re.MULTILINE)


def _repaired_boundary(data: bytes) -> bytes:
    """Set the top-level boundary to the delimiter the body really uses, when the declared one
    is missing or never occurs (an unquoted "----=_Part_…" from Java mailers, which RFC 2045
    §5.1 wants quoted, or a boundary rewritten by a relay): the stdlib then finds no part."""
    parts = re.split(rb"(\r?\n\r?\n|\r\r)", data, maxsplit=1)
    if len(parts) != 3:
        return data
    head, separator, body = parts
    found = _DELIMITER_LINE.search(body.replace(b"\r", b"\n"))
    if found is None or body.count(b"--" + found[1]) < 2:
        return data
    boundary = b'boundary="' + found[1].rstrip() + b'"'
    if not re.search(rb"(?im)^content-type:", head):
        head += b"\nContent-Type: multipart/mixed; " + boundary
    elif _BOUNDARY_PARAMETER.search(head):
        head = _BOUNDARY_PARAMETER.sub(lambda _: boundary, head, count=1)
    else:
        head = re.sub(rb"(?im)^(content-type:[^\r\n]*)", lambda m: m[1] + b"; " + boundary, head)
    return head + separator + body


def _lost_mime(message: EmailMessage) -> bool:
    """MIME parts in a body without a Content-Type header: a relay dropped the MIME headers
    of a delivery report (seen from old Sendmail)."""
    if "Content-Type" in message or message.is_multipart():
        return False
    body = message.get_payload()
    return isinstance(body, str) and "\n--" in body and "Content-Type:" in body


def _header_block_broken(message: EmailMessage) -> bool:
    """The stdlib ends the header block at the first line that is not a header, and takes the
    rest (From:, Subject:…) for the body."""
    missing = email.errors.MissingHeaderBodySeparatorDefect
    return not message.keys() or any(isinstance(d, missing) for d in message.defects)


_HEADER_LINE = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_OBSOLETE_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:")


def _repaired_header_block(data: bytes) -> bytes:
    """Drop the lines of the header block that are neither a field nor a continuation, and
    remove the space before the colon of obsolete "Subject :" fields (RFC 5322 §4.5.3)."""
    parts = re.split(rb"(\r?\n\r?\n|\r\r)", data, maxsplit=1)
    head, separator, body = parts if len(parts) == 3 else (data, b"", b"")
    kept: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and kept:
            kept.append(line)
        elif _HEADER_LINE.match(line):
            kept.append(_OBSOLETE_NAME.sub(rb"\1:", line, count=1))
    return b"".join(kept) + separator + body


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
