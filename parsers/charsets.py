"""Bytes of a mail part or header → text, even when the declared charset is wrong.

Order: the declared charset (with the labels clients get wrong mapped to what they mean), then
UTF-8, then detection by charset-normalizer, then the declared charset with replacement
characters. Never raises.
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

# What a label really means in mail. WHATWG's encoding standard maps these the same way, because
# clients label one charset and write its superset.
_SUPERSETS = {
    "iso-8859-1": "cp1252",  # Outlook writes 0x80-0x9f (€, “”) under this label
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",  # 8-bit bytes under an ASCII label are nearly always Windows-1252
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",  # Outlook's name for Korean
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",  # Windows' Shift-JIS has the NEC and IBM extensions
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "big5": "big5hkscs",
    "iso-8859-8-i": "iso-8859-8",  # the logical-order label, same bytes
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-user-defined": "cp1252",
}
_UNKNOWN = {"", "unknown", "unknown-8bit", "x-unknown", "default", "charset", "8bit", "binary"}
_SINGLE_BYTE = {"cp1252", "iso8859-1", "iso8859-15", "ascii", None}
# Detection is the slow step; it sees at most this much.
_DETECT_LIMIT = 64 * 1024


def decode(data: bytes, declared: str | None = None) -> str:
    """`data` as text: best effort, never raises."""
    codec = codec_for(declared)
    if codec in _SINGLE_BYTE and not data.isascii() and _is_utf8(data):
        # UTF-8 under a Western label (a web form or a script that never set the charset): a
        # single-byte text is valid UTF-8 by accident almost never.
        return data.decode("utf-8")
    if codec:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    detected = _detected(data)
    if detected is not None:
        return detected
    return data.decode(codec or "cp1252", "replace")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label, or None when the label says nothing usable."""
    name = (label or "").strip().strip("\"'").lower()
    if name in _UNKNOWN:
        return None
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None


def _detected(data: bytes) -> str | None:
    try:
        best = from_bytes(data[:_DETECT_LIMIT]).best()
    except Exception:  # detection is a heuristic; it must never take the parse down
        return None
    if best is None:
        return None
    try:
        return data.decode(best.encoding, "replace")
    except LookupError:
        return None
