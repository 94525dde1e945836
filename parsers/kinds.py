"""What kind of sender wrote a message: a person, an auto-responder, a bounce, or a list."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

from parsers.bounces import is_bounce

_ROBOT_PRECEDENCE = {"bulk", "junk", "auto_reply"}


def classify(message: EmailMessage, headers: Sequence[tuple[str, str]]) -> str:
    """normal | auto_reply | bounce | list."""
    fields = {name.lower(): value.strip().lower() for name, value in reversed(headers)}
    if is_bounce(message, fields):
        return "bounce"
    precedence = fields.get("precedence", "")
    if "list-id" in fields or precedence == "list":
        return "list"
    # RFC 3834: anything but "no" means a machine wrote it; a comment may follow the keyword.
    if _keyword(fields.get("auto-submitted", "no")) != "no":
        return "auto_reply"
    if precedence in _ROBOT_PRECEDENCE or "x-autoreply" in fields or "x-autorespond" in fields:
        return "auto_reply"
    if fields.get("x-auto-response-suppress") and fields.get(
        "x-ms-exchange-generated-message-source"
    ):
        return "auto_reply"
    return "normal"


def _keyword(value: str) -> str:
    return value.split("(", 1)[0].split(";", 1)[0].strip()
