"""The readable text of a message and its attachments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

from parsers.html import html_reply_text, html_to_text


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    inline: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "inline": self.inline,
        }


def body_text(message: EmailMessage) -> str:
    """The plain part when there is one, else the HTML part as text; '' when neither."""
    return body_texts(message)[0]


def body_texts(message: EmailMessage) -> tuple[str, str]:
    """(all the text, the text without the quoted history that HTML marks up).

    The plain part when there is one, else the HTML part as text; '' when neither."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        return "", ""
    text = _decoded(part)
    if part.get_content_subtype() != "html":
        text = text.replace("\r\n", "\n").strip()
        return text, text
    return html_to_text(text), html_reply_text(text)


def _decoded(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, AssertionError, ValueError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def attachments_of(message: EmailMessage) -> Iterator[Attachment]:
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = _filename(part)
        if disposition != "attachment" and not filename:
            continue
        payload = part.get_payload(decode=True)
        yield Attachment(
            filename=filename or "unnamed",
            content_type=part.get_content_type(),
            size=len(payload) if isinstance(payload, bytes) else 0,
            inline=disposition == "inline",
        )


def _filename(part: EmailMessage) -> str:
    try:
        return part.get_filename() or ""
    except Exception:
        return ""
