"""RTF bodies as text: what Outlook's "Rich Text" format puts into winmail.dat.

Outlook stores an HTML or plain-text body inside RTF when it converted one ("\\fromhtml1",
"\\fromtext", MS-OXRTFEX): that is taken out again, and the HTML rendered as every other HTML
body. A native RTF body (Word, WordPad) goes through striprtf.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

from striprtf.striprtf import rtf_to_text

from parsers.html import html_to_text

# A body is a person's mail; beyond this an RTF body is a document, cut here.
_MAX_RTF = 2_000_000
_HEADER = 4096  # where \ansicpg and \fromhtml stand
_CODEPAGE = re.compile(rb"\\ansicpg(\d{3,5})")
_TOKEN = re.compile(
    r"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|([^\\{}\r\n]+)|[\r\n]+",
    re.DOTALL,
)
# Groups whose content is never the message text.
_SKIPPED = frozenset(
    ("fonttbl", "colortbl", "stylesheet", "info", "pict", "object", "listtable", "themedata")
)


def rtf_to_plain(rtf: bytes) -> str:
    """The text of an RTF body; '' when there is none."""
    rtf = rtf[:_MAX_RTF].rstrip(b"\x00")
    if not rtf.lstrip().startswith(b"{\\rtf"):
        return ""
    codepage = _codepage(rtf)
    header = rtf[:_HEADER]
    try:
        if b"\\fromhtml" in header:
            return html_to_text(_encapsulated(rtf.decode("latin-1"), codepage))
        if b"\\fromtext" in header:
            return _encapsulated(rtf.decode("latin-1"), codepage).strip()
        text = rtf.decode("latin-1")  # RTF is 7-bit; \'hh escapes are read in `codepage`
        native = str(rtf_to_text(text, codepage, "replace"))  # type: ignore[no-untyped-call]
        return _paired(native)
    except (ValueError, LookupError, RecursionError, OverflowError):  # on broken input
        return ""


def _paired(text: str) -> str:
    """\\uN gives UTF-16 units: a character outside the BMP comes as a surrogate pair, joined
    here; a lone one (broken input) is replaced, as no database or mail can hold it."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _codepage(rtf: bytes) -> str:
    match = _CODEPAGE.search(rtf[:_HEADER])
    name = f"cp{int(match[1])}" if match else "cp1252"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "cp1252"


class _Group:
    __slots__ = ("skip", "suppressed", "unicode_skip")

    def __init__(self, skip: bool, suppressed: bool, unicode_skip: int) -> None:
        self.skip = skip  # a destination that is not text (font table, \*\mhtmltag)
        self.suppressed = suppressed  # inside \htmlrtf … \htmlrtf0: RTF-only formatting
        self.unicode_skip = unicode_skip  # \ucN: characters after \uN that stand in for it


def _encapsulated(rtf: str, codepage: str) -> str:
    """The HTML (or text) that Outlook encapsulated: the \\*\\htmltag groups and the text
    outside \\htmlrtf blocks, with RTF's escapes undone (MS-OXRTFEX §2.1.3)."""
    out: list[str] = []
    pending = bytearray()  # \'hh bytes: a multi-byte codepage needs them together
    stack = [_Group(False, False, 1)]
    starting = False  # just after "{": the group's first control word may be a destination
    star = False  # "{\*": the group is a destination that a reader may skip
    skip_chars = 0

    def emit(text: str) -> None:
        group = stack[-1]
        if not group.skip and not group.suppressed:
            if pending:
                out.append(pending.decode(codepage, "replace"))
                pending.clear()
            out.append(text)

    for match in _TOKEN.finditer(rtf):
        word, number, hexbyte, symbol, brace, text = match.groups()
        group = stack[-1]
        if brace == "{":
            stack.append(_Group(group.skip, group.suppressed, group.unicode_skip))
            starting = True
            continue
        if brace == "}":
            if len(stack) > 1:
                stack.pop()
            starting = False
            continue
        first, starting = starting, False
        starred, star = star, False
        if skip_chars and (text or hexbyte or symbol):
            if text and len(text) > skip_chars:
                text, skip_chars = text[skip_chars:], 0
            else:
                skip_chars -= 1
                continue
        if word is not None:
            skip_chars = _control_word(word, number, first, starred, stack, emit)
        elif hexbyte is not None:
            if not group.skip and not group.suppressed:
                pending.append(int(hexbyte, 16))
        elif symbol is not None:
            if symbol == "*":
                star, starting = first, first  # the next word names the destination
                continue
            if symbol in "\\{}":
                emit(symbol)
            elif symbol == "~":
                emit("\u00a0")
        elif text:
            emit(text)
    emit("")
    return _paired("".join(out))


def _control_word(
    word: str,
    number: str | None,
    first: bool,
    starred: bool,
    stack: list[_Group],
    emit: Callable[[str], None],
) -> int:
    """Apply one control word; returns how many characters to skip after it (\\uN)."""
    group = stack[-1]
    if first and (word in _SKIPPED or (starred and word != "htmltag")):
        group.skip = True  # \*\mhtmltag (the original of a rewritten tag) among them
    elif word == "htmltag":
        group.skip, group.suppressed = False, False  # HTML markup: emitted as it is
    elif word == "htmlrtf":
        group.suppressed = number != "0"
    elif word in ("par", "line"):
        emit("\n")
    elif word == "tab":
        emit("\t")
    elif word == "uc" and number is not None:
        group.unicode_skip = int(number)
    elif word == "u" and number is not None:
        code = int(number)
        code = code + 65536 if code < 0 else code  # a signed 16-bit UTF-16 unit
        emit(chr(code) if 0 <= code <= 0xFFFF else "\ufffd")
        return group.unicode_skip
    return 0
