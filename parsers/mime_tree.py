"""Raw bytes → the stdlib's MIME tree, and the repairs that make a broken mail readable.

`mime_tree` parses a message with the stdlib's feed parser (compat32, fed in pieces) and, where a
mail client or relay broke the structure, parses it again repaired: CR-only line ends, NUL bytes,
lines in the header block that are not fields, a MIME boundary declared but not used. Each repair
is named, for `ParsedMessage.defects`. A tree nested beyond `MAX_DEPTH` raises `TooDeep`, after
which `header_block_only` reads what can be read.

Apart from parsers/message.py because this is about bytes and the stdlib's parser, where that
module builds the gateway's view of a mail from the tree.

Pure: no I/O.
"""

from __future__ import annotations

import email.errors
import email.feedparser
import email.policy
import re
from email.message import EmailMessage, Message

# Mail clients nest a few levels (a forward of a signed reply is five or six). The stdlib parses
# the tree recursively and the stages after it walk it recursively, so a deeper tree is refused
# with this reason before any stage reaches Python's recursion limit.
MAX_DEPTH = 200
TOO_DEEP = f"MIME parts nested deeper than {MAX_DEPTH} levels"


class TooDeep(Exception):
    """The MIME tree is nested beyond MAX_DEPTH: only the header block is read."""


class UnreadableMime(Exception):
    """The stdlib cannot parse these bytes, even without NUL bytes; the text says why."""


# compat32 keeps header values as the strings they came as; policy.default builds a structured
# header object at every get(), which made up half of the parse time (bench/parse.py). Headers
# are decoded by parsers/headers.py instead; EmailMessage still gives get_body().
_POLICY = email.policy.compat32
# BytesParser decodes the whole message to one string and splits all of it into lines before
# parsing, several times the message's size (docs/PERFORMANCE.md). Fed in pieces, the parser
# holds only the part it reads.
_FEED_CHUNK = 1 << 16


def parse_bytes(data: bytes) -> EmailMessage:
    """The stdlib's parse of `data`, as it is: no repairs."""
    parser = email.feedparser.BytesFeedParser(_factory=EmailMessage, policy=_POLICY)
    view = memoryview(data)
    for start in range(0, len(data), _FEED_CHUNK):
        parser.feed(bytes(view[start : start + _FEED_CHUNK]))
    message = parser.close()
    assert isinstance(message, EmailMessage)
    return message


def mime_tree(data: bytes) -> tuple[EmailMessage, list[str]]:
    """The stdlib's parse, and what was repaired to make it. The stdlib raises on some inputs (a
    NUL in a charset parameter makes codec lookup fail), so try once more without NUL bytes,
    then refuse with the reason (UnreadableMime); TooDeep beyond MAX_DEPTH."""
    repairs: list[str] = []
    if b"\r" in data[:8192] and b"\n" not in data[:8192]:
        # CR-only line ends (classic Mac OS): the stdlib splits on them, but every part's text
        # would keep them, and the bounce detectors read lines.
        data = data.replace(b"\r", b"\n")
    for attempt in (data, data.replace(b"\x00", b"")):
        try:
            message = parse_bytes(attempt)
        except RecursionError:
            raise TooDeep(TOO_DEEP) from None
        except Exception as exc:
            reason = f"the MIME structure cannot be read: {exc.__class__.__name__}: {exc}"
            repairs.append("NUL bytes removed")
            continue
        if _depth(message) > MAX_DEPTH:
            raise TooDeep(TOO_DEEP)
        if _header_block_broken(message):
            repaired = _repaired_header_block(attempt)
            if repaired != attempt:
                message, more = mime_tree(repaired)
                note = "lines that are not header fields dropped from the header block"
                return message, [*repairs, note, *more]
        if any(isinstance(d, _BOUNDARY_DEFECTS) for d in message.defects) or _lost_mime(message):
            repaired = _repaired_boundary(attempt)
            if repaired != attempt:
                message, more = mime_tree(repaired)
                note = "the declared MIME boundary is not used: parts split where the body does"
                return message, [*repairs, note, *more]
        return message, repairs
    raise UnreadableMime(reason)


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


def header_block_only(data: bytes) -> EmailMessage:
    """The header block without the body: what can be read of a message whose MIME tree the
    stages after the parser could not walk."""
    head = re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0] + b"\r\n"
    # Nothing of the declared tree is there: without its Content-Type the message is empty text.
    head = _CONTENT_TYPE_FIELD.sub(b"", head)
    return parse_bytes(head + b"\r\n")


_CONTENT_TYPE_FIELD = re.compile(rb"(?im)^content-type[ \t]*:.*\n(?:[ \t].*\n)*")
