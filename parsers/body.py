"""The readable text of a message and its attachments."""

from __future__ import annotations

import base64
import email.policy
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message

from parsers.charsets import decode
from parsers.headers import header_text
from parsers.html import html_reply_text, html_to_text
from parsers.tnef import TnefContent, is_tnef, unpack


@dataclass(frozen=True)
class Attachment:
    filename: str  # '' when the sender gave none
    content_type: str
    size: int
    inline: bool = False  # shown in the body (an image with a Content-ID), not a separate file

    def as_json(self) -> dict[str, object]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "inline": self.inline,
        }


def body_text(message: EmailMessage) -> str:
    """All the readable text of the message (see `body_texts`)."""
    return body_texts(message)[0]


def body_texts(message: EmailMessage, parts: list[Message] | None = None) -> tuple[str, str]:
    """(full text, reply text).

    The full text is every text part that is not an attachment, attached mails included; HTML
    only where the plain parts are missing or empty; a winmail.dat's body where there is no
    other. The reply text is the main body only (the plain part if there is one with text),
    without the history that HTML marks up. `parts`: the message's `text_parts`, where the
    caller has them already."""
    parts = text_parts(message) if parts is None else parts
    text_of = _Decoded()
    plain = [part for part in parts if part.get_content_subtype() != "html"]
    texts = [text_of(part) for part in plain]
    if not any(text.strip() for text in texts):  # none, or empty beside the HTML (web forms)
        texts = [html_to_text(text_of(p)) for p in parts if p.get_content_subtype() == "html"]
    if not any(text.strip() for text in texts):  # Outlook sends the body beside winmail.dat too
        texts = [content.text for content in _tnef_contents(message) if content.text]
    full_text = "\n\n".join(text.strip() for text in texts if text.strip())
    main = _main_parts(message, text_of)
    if not main:
        return full_text, full_text
    if main[0].get_content_subtype() == "html":
        return full_text, "\n\n".join(html_reply_text(text_of(part)) for part in main)
    return full_text, "\n\n".join(text_of(part).strip() for part in main)


def main_text(message: EmailMessage) -> str:
    """The main body as text with the history that HTML marks up: where a forward keeps the
    forwarded mail (Outlook's and Gmail's HTML put it where a reply's history goes)."""
    text_of = _Decoded()
    main = _main_parts(message, text_of)
    if main and main[0].get_content_subtype() == "html":
        return "\n\n".join(html_to_text(text_of(part)) for part in main)
    return "\n\n".join(text_of(part).strip() for part in main)


class _Decoded:
    """Each part's text, decoded once: the full text and the main body read the same parts."""

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}

    def __call__(self, part: Message) -> str:
        key = id(part)
        if key not in self._texts:
            self._texts[key] = _text(part)
        return self._texts[key]


def _main_parts(message: Message, text_of: _Decoded) -> list[Message]:
    """The parts a mail client shows as the message: the first plain text part with text that
    is not an attachment, else the first HTML one; never inside an attached mail. Apple Mail
    puts text, an inline image and more text side by side in a multipart/mixed: the text parts
    after the first one there belong to the message too. (The stdlib's get_body() does the
    first step with policy.default only, which costs half the parse.)"""
    candidates = list(_body_candidates(message, message))
    for subtype in ("plain", "html"):
        found = [
            (part, parent)
            for part, parent in candidates
            if part.get_content_subtype() == subtype and text_of(part).strip()
        ]
        if found:
            first, parent = found[0]
            if parent.get_content_subtype() != "mixed":
                return [first]
            return [first, *(part for part, other in found[1:] if other is parent)]
    return []


def _body_candidates(
    part: Message, parent: Message, depth: int = 0
) -> Iterator[tuple[Message, Message]]:
    if part.is_multipart():
        if part.get_content_maintype() == "message" or depth > 50:
            return
        for child in part.get_payload():
            if isinstance(child, Message):
                yield from _body_candidates(child, part, depth + 1)
    elif part.get_content_maintype() == "text" and not _sent_as_file(part):
        yield part, parent


def text_parts(message: Message) -> list[Message]:
    """The text parts that are bodies (see `_text_parts`)."""
    return list(_text_parts(message))


def _text_parts(message: Message) -> Iterator[Message]:
    """Text parts that are bodies: not sent as a file. A Content-ID alone does not make a text
    part a file (web forms and Outlook give body parts one)."""
    for part in message.walk():
        if part.get_content_maintype() != "text" or _sent_as_file(part):
            continue
        if part.get_content_subtype() in ("plain", "html"):
            yield part
    if message.get_content_maintype() == "multipart" and not message.is_multipart():
        yield message  # no part found (an illegal boundary): the stdlib keeps the raw body


def _text(part: Message) -> str:
    """A text part's content, decoded by its declared charset or a better guess."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    return decode(payload, _charset(part)).replace("\r\n", "\n").replace("\x00", "")


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_param("charset")
    except Exception:
        return None
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    return str(charset) if charset else None


# --- attachments -------------------------------------------------------------------------------


def attachments_of(message: EmailMessage) -> Iterator[Attachment]:
    """Every file: named parts, parts a body refers to by Content-ID, attached mails
    (message/rfc822), and the files inside a winmail.dat instead of the winmail.dat."""
    for part in message.walk():
        if part.get_content_maintype() == "multipart" or not _is_attachment(part):
            continue
        filename = _filename(part)
        content_type = part.get_content_type()
        if is_tnef(content_type, filename):
            content = unpack(_payload(part))
            if content is not None:
                yield from (_file(name, data) for name, data in content.files)
                continue
        yield Attachment(
            filename=filename,
            content_type=content_type,
            size=_size(part),
            inline=part.get_content_disposition() != "attachment" and bool(part.get("Content-ID")),
        )


def _is_attachment(part: Message) -> bool:
    if part.get_content_type() == "message/rfc822":
        return True
    if part.get_content_disposition() == "attachment" or part.get("Content-ID") is not None:
        return True
    return bool(_filename(part))


def _sent_as_file(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or bool(_filename(part))


def _tnef_contents(message: Message) -> Iterator[TnefContent]:
    for part in message.walk():
        if is_tnef(part.get_content_type(), _filename(part)):
            content = unpack(_payload(part))
            if content is not None:
                yield content


def _file(name: str, data: bytes) -> Attachment:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Attachment(filename=name, content_type=content_type, size=len(data))


# Above this, a base64 part's size is counted, not decoded: decoding a large attachment made
# several copies of it, only to take its length (docs/PERFORMANCE.md).
_COUNT_ABOVE = 1 << 20


def _size(part: Message) -> int:
    """The decoded size of a part."""
    encoded = part.get_payload()
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte != "base64" or not isinstance(encoded, str) or len(encoded) < _COUNT_ABOVE:
        return len(_payload(part))
    # RFC 2045 §6.8: four characters are three bytes; line breaks and padding carry none.
    breaks = sum(encoded.count(c) for c in "\r\n\t ")
    padding = encoded.rstrip().endswith("==") + encoded.rstrip().endswith("=")
    return (len(encoded) - breaks) * 3 // 4 - padding


def _payload(part: Message) -> bytes:
    """The decoded content; for an attached mail, its bytes."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    inner = part.get_payload()
    if not isinstance(inner, list) or not inner or not isinstance(inner[0], Message):
        return b""
    try:
        data = inner[0].as_bytes(policy=_WIRE)  # the size it has on the wire
    except Exception:
        return b""
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
        try:  # RFC 2046 §5.2.1 forbids it, but clients base64-encode attached mails
            return base64.b64decode(data)
        except ValueError:
            return data
    return data


_WIRE = email.policy.compat32.clone(linesep="\r\n")
_NAME_PARAMETER = re.compile(r"""(?:^|;)\s*(?:file)?name\s*=\s*("([^"]*)"?|[^;]*)""", re.IGNORECASE)


def _filename(part: Message) -> str:
    """The file name: RFC 2231 parameters, encoded words (which RFC 2047 §5 forbids there, but
    Outlook and Thunderbird write), and unquoted names with spaces that the stdlib cuts short."""
    try:
        name = part.get_filename()
    except Exception:
        name = None
    raw = _raw_name(part)
    if raw and (not name or "\ufffd" in name or len(raw) > len(name) and raw.startswith(name)):
        name = raw  # the stdlib replaced 8-bit bytes, or cut an unquoted name at a space
    return header_text(name) if name else ""


def _raw_name(part: Message) -> str:
    for header in ("Content-Disposition", "Content-Type"):
        value = next((str(v) for k, v in part.raw_items() if k.lower() == header.lower()), "")
        match = _NAME_PARAMETER.search(value.replace("\r\n", " ").replace("\n", " "))
        if match:
            return (match[2] if match[2] is not None else match[1]).strip()
    return ""
