"""Subjects as threading sees them: without reply prefixes, with the ticket tag found."""

from __future__ import annotations

import re

# Reply and forward prefixes of the common clients in many languages; they stack ("RE: AW: Fwd:").
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|wg|antw|antwoord|doorst|fw|fwd|vs|sv|vb|tr|rv|r|enc|odp|pd|res)"
    r"(?:\s*\[\d+\])?\s*:|\[external\]|\[extern\])\s*",
    re.IGNORECASE,
)


def strip_prefixes(subject: str) -> str:
    previous = None
    while previous != subject:
        previous, subject = subject, _PREFIX.sub("", subject, count=1)
    return subject.strip()


def ticket_number_in(subject: str, tag: str) -> int | None:
    match = re.search(rf"\[{re.escape(tag)}#(\d{{1,12}})\]", subject, re.IGNORECASE)
    return int(match[1]) if match else None
