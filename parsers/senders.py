"""Who sent a message: the From: address, or, for a person's mail without a usable one, where
real systems look next, with a defect that says so.

Works on the raw header values the stdlib keeps: its header objects raise on some real-world
input.
"""

from __future__ import annotations

from email.message import Message

from parsers.headers import addresses, header_text


def raw_values(message: Message, name: str) -> list[str]:
    """Every raw value of a header, in order. Raw, because the stdlib's header objects raise on
    some real-world input."""
    wanted = name.lower()
    return [str(value) for key, value in message.raw_items() if key.lower() == wanted]


def first_address(message: Message, name: str) -> tuple[str, str]:
    for display, address in addresses(raw_values(message, name)):
        if "@" in address:
            return display, address.lower()
    return "", ""


# The headers where a person's mail without a usable From: may say who sent it, in order; after
# them come the envelope sender and Return-Path (the envelope sender as the delivering server
# wrote it: mail read over IMAP has no other).
_SENDER_FALLBACKS = ("Reply-To", "Sender")


def sender_of(
    message: Message, kind: str, envelope_sender: str | None
) -> tuple[str, str, list[str]]:
    """(display name, address, defects) of the sender. Robots may write "From: MAILER-DAEMON
    <>"; a person's mail without a usable From: takes Reply-To, Sender, the envelope sender or
    Return-Path, in that order, and says so."""
    name, address = first_address(message, "From")
    if address or kind != "normal":
        return name, address, []
    raw = " ".join(raw_values(message, "From")).strip()
    problem = f"From header without a usable address ({header_text(raw)[:80]!r})"
    problem = problem if raw else "no From header"
    for header in _SENDER_FALLBACKS:
        other_name, other = first_address(message, header)
        if other:
            return other_name or name, other, [f"{problem}; From taken from {header}"]
    envelope = [envelope_sender] if envelope_sender else []
    for source, values in (
        ("the envelope sender", envelope),
        ("Return-Path", raw_values(message, "Return-Path")),
    ):
        found = next((a for _, a in addresses(values) if "@" in a), "")
        if found:
            return name, found.lower(), [f"{problem}; From taken from {source}"]
    return name, "", [f"{problem}, and no other sender address: nobody can be answered"]
