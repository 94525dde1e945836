"""The files attached to a message, with their bytes, for passing them on (an agent's answer)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass(frozen=True)
class Payload:
    filename: str
    content_type: str
    data: bytes


def attached_files(data: bytes) -> list[Payload]:
    """Parts the sender attached. Inline parts (the logo in a signature) are left out."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    found = []
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() != "attachment":
            continue
        content = part.get_payload(decode=True)
        if not isinstance(content, bytes):
            continue
        filename = _filename(part) or "attachment"
        found.append(Payload(filename, part.get_content_type(), content))
    return found


def _filename(part: EmailMessage) -> str:
    try:
        return str(part.get_filename() or "")
    except (ValueError, LookupError):  # broken RFC 2231 parameters
        return ""
