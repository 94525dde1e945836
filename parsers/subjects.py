"""Subjects as threading sees them: without reply prefixes, with the ticket tag found."""

from __future__ import annotations

import re

# Reply and forward prefixes of the common clients in many languages; they stack ("RE: AW: Fwd:").
# en, de, nl, fr, es, it, pt, sv, no, da, fi, pl, cs, tr, el, zh, ja; "Re[2]:" and "RE(2):"
# counters (Eudora, The Bat!); full-width colons (CJK clients); the external-sender tags that
# Exchange and Microsoft 365 transport rules prepend.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|wg|antw|antwort|antwoord|doorst|fw|fwd|vs|sv|vb|tr|rv|r|enc|odp|pd|res|"
    r"rif|i|fs|vl|ynt|ilt|atb|odg|přep|tr|réf|πρθ|σχετ|回复|回覆|答复|转发|轉寄|返信|転送)"
    r"(?:\s*[\[(]\d+[\])])?\s*[:：]|\[external\]|\[extern\]|\[ext\]|\*external\*|"
    r"external\s*:)\s*",
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


# Microsoft support writes "TrackingID#2411250010001234"; other upstreams "Case 12345678" or
# "SR 1234567". Kept on the ticket so agents can quote them back.
_CASE_NUMBER = re.compile(
    r"\b(?:(TrackingID)\s*#\s*(\d{8,20})|(Case|SR|Ticket)\s*(?:#|no\.?|nr\.?|:)?\s*(\d{6,20}))\b",
    re.IGNORECASE,
)


def case_numbers(subject: str) -> list[str]:
    """Upstream case numbers in a subject, as 'TrackingID#…' or 'Case …', in order."""
    found = []
    for match in _CASE_NUMBER.finditer(subject):
        if match[1]:
            number = f"TrackingID#{match[2]}"
        else:
            number = f"{match[3].capitalize() if match[3].lower() != 'sr' else 'SR'} {match[4]}"
        if number not in found:
            found.append(number)
    return found
