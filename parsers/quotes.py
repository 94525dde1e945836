"""Separate the new text of a reply from the quoted history and the signature."""

from __future__ import annotations

import re

# A line that introduces quoted history. Clients write these in the sender's language;
# Outlook writes a "From:/Sent:" block instead of a "wrote:" line.
_HISTORY_STARTS = [
    re.compile(r"^-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^-{2,}\s*Oorspronkelijk bericht\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^-{2,}\s*Forwarded message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^_{20,}\s*$"),  # Outlook's rule above the From: block
    re.compile(
        r"^(On|Op|Am|Le|El|Il|Em|Den|På|W dniu)\s.{0,200}"
        r"(wrote|schreef|schrieb|a écrit|escribió|ha scritto|escreveu|skrev|napisał)"
        r".{0,200}:\s*$",
        re.IGNORECASE,
    ),
    re.compile(r"^(From|Van|Von|De|Da|Från|Fra|Od):\s.+$", re.IGNORECASE),
]
_OUTLOOK_BLOCK_NEXT = re.compile(
    r"^(Sent|Verzonden|Gesendet|Envoyé|Enviado|Inviato|Skickat|Sendt|Wysłano|Date|Datum):",
    re.IGNORECASE,
)
_SIGNATURES = [
    re.compile(r"^-- ?$"),
    re.compile(
        r"^(Sent from my|Verzonden vanaf mijn|Von meinem|Envoyé de mon|Enviado desde mi)\b",
        re.IGNORECASE,
    ),
]


def new_text(text: str) -> str:
    """The part of `text` the sender wrote now: above the quoted history and the signature."""
    lines = text.split("\n")
    end = len(lines)
    for index, line in enumerate(lines):
        if _starts_history(lines, index) or _starts_signature(line):
            end = index
            break
    kept = [line for line in lines[:end] if not line.lstrip().startswith(">")]
    return "\n".join(kept).strip()


def _starts_history(lines: list[str], index: int) -> bool:
    line = lines[index].strip()
    for pattern in _HISTORY_STARTS:
        if not pattern.match(line):
            continue
        if line.lower().startswith(_FROM_PREFIXES):
            # "From: x" alone is ordinary text; Outlook follows it with Sent:/Date: at once.
            following = next((n.strip() for n in lines[index + 1 : index + 3] if n.strip()), "")
            return bool(_OUTLOOK_BLOCK_NEXT.match(following))
        return True
    # A "wrote:" line that the client wrapped over two lines.
    if index + 1 < len(lines) and re.match(r"^(On|Op|Am|Le)\s", line, re.IGNORECASE):
        joined = f"{line} {lines[index + 1].strip()}"
        return bool(_HISTORY_STARTS[4].match(joined))
    return False


_FROM_PREFIXES = ("from:", "van:", "von:", "de:", "da:", "från:", "fra:", "od:")


def _starts_signature(line: str) -> bool:
    return any(pattern.match(line.rstrip("\r")) for pattern in _SIGNATURES)
