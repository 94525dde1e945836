"""What was wrong with a message and what the parser assumed, as short sentences for agents.

CPython's feedparser never raises on bad input: it records a defect on the part and reads on.
The parser does the same one level up, so that odd mail still makes a ticket and the agent sees
what was assumed ("no From header; From taken from Reply-To").
"""

from __future__ import annotations

import email.errors
import re
from collections.abc import Iterable, Iterator
from email.message import Message

from parsers.charsets import codec_for

# The stdlib's defects that tell an agent something, in words; the others (header folding
# details of policy.default) never occur with compat32 or say nothing a reader needs.
_DESCRIPTIONS: tuple[tuple[type[email.errors.MessageDefect], str], ...] = (
    (email.errors.StartBoundaryNotFoundDefect, "MIME boundary not found: the parts are one text"),
    (email.errors.CloseBoundaryNotFoundDefect, "MIME multipart not closed: the message may be cut"),
    (email.errors.NoBoundaryInMultipartDefect, "multipart without a boundary: read as one text"),
    (email.errors.MultipartInvariantViolationDefect, "multipart without parts"),
    (email.errors.FirstHeaderLineIsContinuationDefect, "the header block starts with a fold"),
    (email.errors.MisplacedEnvelopeHeaderDefect, "a Unix From line inside the header block"),
    (email.errors.InvalidBase64LengthDefect, "truncated base64 in a {type} part: its end is lost"),
    (email.errors.InvalidBase64PaddingDefect, "base64 without its padding in a {type} part"),
    (email.errors.InvalidBase64CharactersDefect, "characters that are not base64 in a {type} part"),
    (
        email.errors.InvalidMultipartContentTransferEncodingDefect,
        "a transfer encoding on a multipart",
    ),
)
# An agent reads a few; a mail that is all defects says so in the first ones.
MAX_DEFECTS = 20


def mime_defects(message: Message) -> list[str]:
    """The stdlib's defects of every part, in words. Call after the body and attachments were
    decoded: base64 defects are recorded when a payload is decoded."""
    found: list[str] = []
    for part in message.walk():
        for defect in part.defects:
            found.extend(_described(defect, part))
    return found


def _described(defect: email.errors.MessageDefect, part: Message) -> Iterator[str]:
    for kind, text in _DESCRIPTIONS:
        if isinstance(defect, kind):
            yield text.format(type=part.get_content_type())
            return


def charset_defects(parts: Iterable[Message]) -> Iterator[str]:
    """Text parts whose charset is unknown, or whose bytes are not what their charset says."""
    for part in parts:
        label = _label(part)
        if not label:
            continue
        kind = part.get_content_type()
        codec = codec_for(label)
        if codec is None:
            if label.lower() not in _SAYS_NOTHING:
                yield f"unknown charset {label[:40]!r} in a {kind} part: its text is a guess"
            continue
        payload = _payload(part)
        if payload and not payload.isascii() and not _decodes(payload, codec):
            yield f"a {kind} part is not valid {label[:40]}: its text is a guess"


_SAYS_NOTHING = {"unknown-8bit", "x-unknown", "unknown", "default", "8bit", "binary"}


def _label(part: Message) -> str:
    try:
        charset = part.get_param("charset")
    except Exception:
        return ""
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    return str(charset or "").strip().strip("\"'")


def _payload(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        return b""
    return payload if isinstance(payload, bytes) else b""


def _decodes(payload: bytes, codec: str) -> bool:
    try:
        payload.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


_ENCODED_WORD_CHARSET = re.compile(r"=\?([^?*\s]{1,40})(?:\*[^?\s]*)?\?[bBqQ]\?")
# The headers an agent reads; an odd charset elsewhere (X-…) changes nothing they see.
_READ_HEADERS = ("from", "subject", "to", "cc", "reply-to")


def header_charset_defects(headers: Iterable[tuple[str, str]]) -> Iterator[str]:
    """Encoded words (RFC 2047) in a charset nobody knows, in the headers agents read."""
    for name, raw in headers:
        if name.lower() not in _READ_HEADERS or "=?" not in raw:
            continue
        for label in dict.fromkeys(_ENCODED_WORD_CHARSET.findall(raw)):
            if codec_for(label) is None and label.lower() not in _SAYS_NOTHING:
                yield f"unknown charset {label!r} in the {name} header: its text is a guess"


def unique(defects: Iterable[str]) -> tuple[str, ...]:
    """Once each, in order, at most MAX_DEFECTS (a decoded payload records its defects again
    each time it is decoded)."""
    return tuple(dict.fromkeys(defects))[:MAX_DEFECTS]
