"""A sender's recurring closing block: the company lines, phone numbers and notices that each
of their mails ends with, without a "-- " above them (Zammad's signature detection does the
same). The parser keeps such a block, having no way to tell it from text; the processor knows
the sender's earlier mails on the ticket and passes them here. Pure: texts in, text out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Fewer lines in common are as likely a repeated sentence as a signature.
MIN_LINES = 3
# A block is looked for in the last lines only: a signature is at the end.
_TAIL = 40
# A sign-off belongs to the new text (issue 21): "Mit freundlichen Grüßen", "Groet,", "Thanks".
_SIGN_OFF = re.compile(
    r"^(?:(?:with |many |kind |best |warm )?(?:regards|wishes|thanks?|thank you|cheers)|"
    r"(?:mit )?(?:freundlichen|besten|herzlichen|viele|liebe|beste) grü(?:ß|ss)en?|gru(?:ß|ss)|"
    r"danke(?: und gru(?:ß|ss))?|(?:met )?vriendelijke groet(?:en)?|"
    r"(?:hartelijke )?groet(?:en|jes)?|"
    r"(?:bien )?cordialement|bien à vous|salutations|merci)\b[\s,.!/\w]{0,40}$",
    re.IGNORECASE,
)
# What only a signature holds: a phone number, an address, a link, a company's legal form. A
# block without any is as likely the sender repeating their own sentences.
_SIGNATURE_LIKE = re.compile(
    r"\d{3}|@|https?://|www\.|\||\b(?:GmbH|AG|B\.?V\.?|N\.?V\.?|Ltd|Inc|LLC|S\.?A\.?S?|SARL|"
    r"Tel|Fax|Mobil|Mobile|Phone|Telefoon)\b",
    re.IGNORECASE,
)
# A name under the sign-off: a few words, no digits, no separators of a company line.
_NAME = re.compile(r"^[^\d@|:;/\\()<>\[\]]{2,40}$")


def without_closing(text: str, earlier: Sequence[str]) -> str:
    """`text` without the closing block it shares with one of the sender's `earlier` mails: the
    longest run of at least MIN_LINES lines that both end with, below some text of this mail's
    own. The sign-off and name at the block's top stay."""
    lines = text.rstrip().split("\n")
    own = _normalised(lines)
    best = 0
    for other in earlier:
        best = max(best, _common_ending(own, _normalised(other.rstrip().split("\n"))))
    if best < MIN_LINES:
        return text
    start = _block_start(lines, best)
    if start is None:
        return text
    kept = _after_sign_off(lines, start)
    cut = [line for line in lines[kept:] if line.strip()]
    if len(cut) < 2 or not any(_SIGNATURE_LIKE.search(line) for line in cut):
        return text
    return "\n".join(lines[:kept]).rstrip()


def _normalised(lines: list[str]) -> list[str]:
    """The last non-empty lines, spacing ignored: clients re-wrap and re-space what they add."""
    found = [" ".join(line.split()) for line in lines if line.strip()]
    return found[-_TAIL:]


def _common_ending(one: list[str], other: list[str]) -> int:
    """How many non-empty lines `one` and `other` both end with. An earlier mail that is only
    the block (a mail of just its signature) tells nothing."""
    count = 0
    while count < min(len(one), len(other)) and one[-1 - count] == other[-1 - count]:
        count += 1
    return count if count < len(other) else 0


def _block_start(lines: list[str], block: int) -> int | None:
    """The index in `lines` of the first of the last `block` non-empty lines, when some text
    of the mail's own is above it."""
    seen = 0
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].strip():
            seen += 1
            if seen == block:
                above = any(line.strip() for line in lines[:index])
                return index if above else None
    return None


def _after_sign_off(lines: list[str], start: int) -> int:
    """Where to cut: below the sign-off and the name under it, whether the block opens with
    them or with the name only (the sign-off above it differed between the mails)."""
    index = start
    above = [line for line in lines[:start] if line.strip()]
    if _SIGN_OFF.match(lines[index].strip()):
        index = _next_text(lines, index)
    elif not (above and _SIGN_OFF.match(above[-1].strip())):
        return index
    if index < len(lines) and _NAME.match(lines[index].strip()):
        index = _next_text(lines, index)
    return index


def _next_text(lines: list[str], index: int) -> int:
    index += 1
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index
