"""winmail.dat (TNEF, MS-OXTNEF): Outlook's wrapper around a mail's body and attachments, sent
when "Rich Text" format is on. Unpacked with tnefparse."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tnefparse import TNEF  # type: ignore[import-untyped]  # tnefparse ships no types

from parsers.charsets import decode
from parsers.html import html_to_text
from parsers.rtf import rtf_to_plain

TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
# tnefparse logs every odd attribute at WARNING; for mail from the wild that is noise.
logging.getLogger("tnefparse").setLevel(logging.ERROR)


@dataclass(frozen=True)
class TnefContent:
    text: str  # the body as text (from HTML, plain text or RTF); '' when there is none
    files: tuple[tuple[str, bytes], ...]  # (file name, content)


def is_tnef(content_type: str, filename: str) -> bool:
    return content_type in TNEF_TYPES or filename.lower() in {"winmail.dat", "win.dat"}


def unpack(data: bytes) -> TnefContent | None:
    """The body and files of a TNEF stream; None when it is not one or cannot be read."""
    try:
        tnef = TNEF(data, do_checksum=False)
    except Exception:  # tnefparse raises plain ValueError/IndexError/struct.error on bad input
        return None
    files = []
    for number, attachment in enumerate(tnef.attachments, start=1):
        try:
            name = attachment.long_filename() or f"Untitled Attachment.{number}"
            content = bytes(attachment.data or b"")
        except Exception:
            continue
        files.append((_text(name), content))
    return TnefContent(text=_body_text(tnef), files=tuple(files))


def _body_text(tnef: TNEF) -> str:
    try:
        if tnef.htmlbody:
            return html_to_text(_text(tnef.htmlbody))
        if tnef.body:
            return _text(tnef.body).replace("\r\n", "\n").strip()
        # Outlook's "Rich Text" format: the body only as compressed RTF (MS-OXRTFCP), which
        # tnefparse decompresses with compressed_rtf.
        rtf = tnef.rtfbody
        if isinstance(rtf, bytes):
            return rtf_to_plain(rtf).replace("\r\n", "\n").strip()
    except Exception:  # tnefparse and compressed_rtf raise plain errors on bad input
        return ""
    return ""


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return decode(value).rstrip("\x00")
    return str(value).rstrip("\x00")
