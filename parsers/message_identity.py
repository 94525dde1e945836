"""A message's identity: a hash of the fields that make two copies one message."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

_HEADER_END = re.compile(rb"\r?\n\r?\n")


# Header fields that identify a message's content. Trace fields (Received, Return-Path,
# Delivered-To, Authentication-Results, ARC-*) differ between two deliveries of one message,
# e.g. by SMTP and from the IMAP mailbox, so they are left out of the content hash.
_IDENTITY_FIELDS = (b"message-id", b"date", b"from", b"to", b"cc", b"subject")


def message_identity(data: bytes) -> tuple[str | None, str]:
    """(Message-ID, content hash) of raw bytes, cheaply: no MIME parse on the intake path.

    Neither the header nor the body is split into a list of lines at once: for a large message
    that took several times its size (docs/PERFORMANCE.md). The digest is the same as it always
    was (it is stored in databases)."""
    match = _HEADER_END.search(data)
    head = data[: match.start()] if match else data
    fields: dict[bytes, bytes] = {}
    for line in _header_lines(head):
        name, sep, value = line.partition(b":")
        name = name.strip().lower()
        if sep and name in _IDENTITY_FIELDS and name not in fields:
            fields[name] = b" ".join(value.split())
    digest = hashlib.sha256()
    for name in _IDENTITY_FIELDS:
        digest.update(name + b":" + fields.get(name, b"") + b"\n")
    if match:
        _hash_body(digest, data, match.end())
    message_id = fields.get(b"message-id", b"").decode("ascii", "replace").strip() or None
    return message_id, digest.hexdigest()


_FIELD_BREAK = re.compile(rb"\r?\n(?![ \t])")  # a line break that is not a fold


_BODY_CHUNK = 1 << 18  # a chunk takes about five times its size while it is hashed


def _header_lines(head: bytes) -> Iterator[bytes]:
    """re.split(_FIELD_BREAK, head), one field at a time."""
    start = 0
    for found in _FIELD_BREAK.finditer(head):
        yield head[start : found.start()]
        start = found.end()
    yield head[start:]


def _hash_body(digest: Any, data: bytes, start: int) -> None:
    """Feed `digest` with b"\\n".join(line.rstrip() for line in body.splitlines()).rstrip() for
    the body data[start:], a chunk of whole lines at a time.

    Each chunk's lines joined end in a non-blank character or in the newlines of blank lines;
    those newlines are held back (`owed`) until text follows, so the final rstrip() drops them."""
    owed = -1  # no separator before the first chunk
    for chunk in _whole_lines(data, start):
        text = b"\n".join(line.rstrip() for line in chunk.splitlines())
        kept = text.rstrip(b"\n")
        owed += 1  # the separator between this chunk's lines and the last one's
        if kept:
            digest.update(b"\n" * owed)
            digest.update(kept)
            owed = 0
        owed += len(text) - len(kept)


def _whole_lines(data: bytes, start: int) -> Iterator[bytes]:
    """data[start:] in chunks of about _BODY_CHUNK that each end at a line break (CR, LF or
    CR LF, as bytes.splitlines() sees them; a CR LF is never cut in two)."""
    while start < len(data):
        end = _line_end(data, start + _BODY_CHUNK)
        yield data[start:end]
        start = end


def _line_end(data: bytes, position: int) -> int:
    """The index just past the first line break at or after `position`, or the end of data."""
    lf = data.find(b"\n", position)
    cr = data.find(b"\r", position, lf if lf >= 0 else len(data))
    if cr >= 0:
        return cr + 2 if data[cr + 1 : cr + 2] == b"\n" else cr + 1
    return lf + 1 if lf >= 0 else len(data)
