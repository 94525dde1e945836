"""Outgoing mail as bytes on the wire: header lines cleaned, encoded (RFC 2047) and folded,
address lists, and the MIME body. What goes into the headers is decided in sender.py, which alone
sets From:; this module only writes it safely."""

from __future__ import annotations

import base64
import quopri
import re
import secrets
from collections.abc import Sequence
from email.header import Header
from email.utils import encode_rfc2231

from parsers.payloads import Payload


class UnsafeHeader(ValueError):
    """A value that cannot be written into a header as it is; no mail is built from it."""


def header_block(headers: Sequence[tuple[str, str]]) -> bytes:
    return "".join(_header_line(name, value) for name, value in headers).encode("utf-8")


_FOLD = re.compile(r"\r\n[ \t]")


def _header_line(name: str, value: str) -> str:
    """The last guard against CR LF injection: whatever reached a value, a line break that is
    not a fold (or any other control character) could start a header of the sender's choosing,
    so the mail is not built at all."""
    unfolded = _FOLD.sub(" ", value)
    # Only address lists may carry UTF-8 (RFC 6532): their addresses passed `sendable`.
    eight_bit_allowed = name in _ADDRESS_HEADERS
    if _CONTROL.search(unfolded) or not (unfolded.isascii() or eight_bit_allowed):
        raise UnsafeHeader(f"{name}: {value[:200]!r}")
    return f"{name}: {value}\r\n"


_ADDRESS_HEADERS = ("To", "Cc")


# RFC 5321 §4.1.2 Mailbox without quoted local parts: nothing a header or the relay's RCPT command
# could split on.
_SENDABLE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
)


# The same with non-ASCII letters (RFC 6531 §3.3), but no Unicode space, line or paragraph
# separator, zero-width or direction mark: nothing a reader could split on or be fooled by.
_NON_ASCII = r"(?:(?![\s\u0085\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff])[^\x00-\x7f])"
_SENDABLE_UTF8 = re.compile(
    rf"(?:[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]|{_NON_ASCII})+"
    rf"@(?:[A-Za-z0-9]|{_NON_ASCII})(?:(?:[A-Za-z0-9.-]|{_NON_ASCII})*(?:[A-Za-z0-9]|{_NON_ASCII}))?"
)


def sendable(address: str) -> bool:
    """Whether mail can be addressed to `address`: plain ASCII, or an internationalised
    address (RFC 6531) that goes out with SMTPUTF8 (or IDNA, where only the domain is)."""
    return bool(_SENDABLE.fullmatch(address) or _SENDABLE_UTF8.fullmatch(address))


def wire_address(address: str) -> str:
    """The address as it is written into the headers and the envelope: a non-ASCII domain
    under an ASCII local part in its IDNA form (no SMTPUTF8 needed), else as it is."""
    local, _, domain = address.rpartition("@")
    if address.isascii() or not local.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:  # not a valid IDNA name: only SMTPUTF8 can carry it
        return address


def address_list(addresses: Sequence[str]) -> str:
    for address in addresses:
        if not sendable(address):
            raise UnsafeHeader(f"not an address that mail can be sent to: {address[:200]!r}")
    return ",\r\n ".join(wire_address(address) for address in addresses)


_TEXT_HEADERS = (
    'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
)


def mime_body(text: str, attachments: Sequence[Payload]) -> bytes:
    body = _TEXT_HEADERS.encode() + b"\r\n" + _quoted_printable(text)
    if not attachments:
        return body
    boundary = "=_gatewayd_" + secrets.token_hex(12)
    parts = [body, *(_attachment_part(a) for a in attachments)]
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
    separator = f"\r\n--{boundary}\r\n".encode()
    return head + separator + separator.join(parts) + f"\r\n--{boundary}--\r\n".encode()


def _attachment_part(attachment: Payload) -> bytes:
    content_type = (
        attachment.content_type if "/" in attachment.content_type else "application/octet-stream"
    )
    name = clean(attachment.filename) or "attachment"
    # RFC 2231 for the file name, which any name survives; the encoded data is plain ASCII.
    quoted = encode_rfc2231(name, "utf-8") if not name.isascii() else f'"{_ascii_name(name)}"'
    parameter = "filename*" if not name.isascii() else "filename"
    head = (
        f"Content-Type: {clean(content_type)}\r\n"
        f"Content-Disposition: attachment; {parameter}={quoted}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode("ascii") + base64.encodebytes(attachment.data).replace(b"\n", b"\r\n")


def _ascii_name(name: str) -> str:
    return name.replace("\\", "_").replace('"', "_")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def encoded(text: str) -> str:
    """A header value as it is where it is plain ASCII, folded where long; else as RFC 2047
    encoded words. ASCII that looks like an encoded word is encoded, so that no reader decodes
    what the customer wrote."""
    if text.isascii() and "=?" not in text:
        return _folded(text)
    return Header(text, "utf-8", maxlinelen=76).encode(linesep="\r\n")


def _folded(text: str, width: int = 68) -> str:
    """Lines of at most `width` where the spaces allow (RFC 5322 §2.2.3): a fold takes the
    place of a space, and unfolding gives the text back as it was."""
    words = text.split(" ")
    lines, line = [], words[0]
    for word in words[1:]:
        if word and line.strip() and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}"
    return "\r\n ".join([*lines, line])


def _quoted_printable(body: str) -> bytes:
    lines = body.replace("\r\n", "\n").encode("utf-8")
    return quopri.encodestring(lines).replace(b"\n", b"\r\n")


def clean(text: str) -> str:
    """One line, no control characters: a subject can never add a header (CR LF injection)."""
    return " ".join(_CONTROL.sub(" ", text).split())[:900]
