"""Header values and address lists as text, including the broken forms real clients send.

Works on the raw values the stdlib keeps (8-bit bytes as surrogate escapes), not on its header
objects: those raise on some real-world input, and cost a third of the parse.
"""

from __future__ import annotations

import email.header
import re
from email.utils import getaddresses

from parsers.charsets import decode

_SURROGATES = re.compile("[\udc80-\udcff]")
# RFC 2047 §5 forbids encoded words inside quoted strings; Outlook, old Eudora and many web forms
# put them there all the same, and every reader decodes them.
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")


def header_text(raw: str) -> str:
    """A raw header value as one line of text: encoded words decoded, 8-bit bytes decoded."""
    if raw.isascii() and "=?" not in raw:
        return _one_line(raw)
    if _SURROGATES.search(raw):  # RFC 6532 UTF-8, or a client's local charset, unencoded
        raw = _eight_bit(raw.encode("ascii", "surrogateescape"))
    if "=?" not in raw:
        return _one_line(raw)
    return _one_line(_decoded_words(raw))


def _eight_bit(data: bytes) -> str:
    """Unencoded 8-bit header bytes: UTF-8 (RFC 6532), else the sender's local charset. A few
    accented letters are too little for detection to tell charsets apart; Windows-1252 is then
    the most likely by far."""
    non_ascii = sum(byte > 0x7F for byte in data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace") if non_ascii < 8 else decode(data)


def _decoded_words(value: str) -> str:
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # bad base64 in one word: decode the words one by one
        return _ENCODED_WORD.sub(lambda m: _decoded_words_or_raw(m[0]), value)
    return "".join(
        chunk if isinstance(chunk, str) else decode(chunk, charset) for chunk, charset in chunks
    )


def _decoded_words_or_raw(word: str) -> str:
    try:
        chunks = email.header.decode_header(word)
    except Exception:
        return word
    return "".join(
        chunk if isinstance(chunk, str) else decode(chunk, charset) for chunk, charset in chunks
    )


def addresses(raw_values: list[str]) -> list[tuple[str, str]]:
    """(display name, address) pairs of one or more address headers, in order, names decoded.

    The list is split before decoding, so a comma inside an encoded name cannot split it."""
    words: list[str] = []
    values = [_without_encoded_words(_unfolded(value), words) for value in raw_values]
    found = []
    for name, address in getaddresses(values):
        address = _mailbox(header_text(_with_encoded_words(address.strip(), words)))
        if not address and not name:
            continue
        found.append((header_text(_with_encoded_words(name, words)), address))
    return found


# An encoded word is split out of the list before the list is parsed: its encoded text may hold
# a colon, "@" or "<" ("=?utf-8?q?Bob=0D=0ABcc:_evil@outside.example?= <bob@...>"), which the
# stdlib would read as a group or an address; the angle address must decide. A placeholder is
# an atom, valid in a name, a quoted string or a comment alike.
_PLACEHOLDER = re.compile(r"gwencodedword(\d+)x")


def _without_encoded_words(value: str, words: list[str]) -> str:
    def placeholder(match: re.Match[str]) -> str:
        words.append(match[0])
        return f"gwencodedword{len(words) - 1}x"

    return _ENCODED_WORD.sub(placeholder, value) if "=?" in value else value


def _with_encoded_words(value: str, words: list[str]) -> str:
    if not words or "gwencodedword" not in value:
        return value
    return _PLACEHOLDER.sub(lambda m: words[int(m[1])], value)


# One "@" with text on both sides, no line breaks, controls or specials (RFC 5322 §3.2.3). Spaces
# may stay in the local part: the stdlib reads "From: Big Bug bb@bug.com" (no angle brackets) as
# one address, as imap_tools does; gateway/delivery/sender.py refuses to write such an address.
_SPECIALS = r'\x00-\x1f\x7f@<>()\[\],;:"\\'
_ADDR_SPEC = re.compile(rf"[^{_SPECIALS}]+@[^\s{_SPECIALS}]+")


def _mailbox(address: str) -> str:
    """The address if it can be one, else "". An encoded word in an address (RFC 2047 §5 forbids
    them there) can decode to a line break and "Bcc: victim@evil.example"; it never becomes a
    requester."""
    return address if _ADDR_SPEC.fullmatch(address) else ""


def _unfolded(value: str) -> str:
    return re.sub(r"\r?\n[ \t]*", " ", value)


# NUL and other controls: no header text holds them, PostgreSQL refuses NUL in text columns, and
# a CR or LF could end a header line of an outgoing mail.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(value: str) -> str:
    return " ".join(_CONTROLS.sub(" ", value).split())
