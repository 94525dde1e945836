"""Signed reply addresses: `support+<ticket>.<tag>.<day>.<signature>@partner-domain`.

The HMAC (partner.secret) proves that the gateway made the address, for this ticket and this
agent, on that day, so a reply to it can be threaded without trusting From: or the subject.
The day (days since 1970-01-01, UTC) gives the address a lifetime: a notification forwarded
long ago must not keep handing an agent's rights to whoever holds it. Addresses made before
the day was signed (`support+<ticket>.<tag>.<signature>`) still thread, with no day: they
count as expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from gateway.config import Config

# 80 bits: far beyond guessing by mail, short enough for a local part (RFC 5321: 64 octets).
_SIGNATURE_LENGTH = 16
_SIGNATURE_BYTES = -(-_SIGNATURE_LENGTH * 5 // 8 // 5) * 5  # whole 5-byte groups
UPSTREAM_TAG = "u"  # replies of Microsoft, the indirect provider or a support party
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class ReplyTarget:
    ticket_number: int
    tag: str  # an agent's tag, or UPSTREAM_TAG
    issued: date | None = None  # None: an address of the old form, without its day

    def fresh(self, now: datetime, lifetime: timedelta) -> bool:
        """Made within `lifetime` before `now` (a day's grace for the day's granularity)."""
        return self.issued is not None and now.date() - self.issued <= lifetime + timedelta(1)


def agent_tag(agent_address: str) -> str:
    """A stable, opaque tag for an agent: the agent's address never shows in the reply address."""
    return hashlib.sha256(agent_address.lower().encode()).hexdigest()[:8]


def _signature(secret: bytes, ticket_number: int, tag: str, day: int | None) -> str:
    signed = f"{ticket_number}.{tag}" if day is None else f"{ticket_number}.{tag}.{day}"
    mac = hmac.new(secret, signed.encode(), hashlib.sha256).digest()
    # Base32 turns each 5 bytes into 8 characters: the first bytes give the same leading
    # characters as the whole digest would, and base64.b32encode is Python, not C.
    return base64.b32encode(mac[:_SIGNATURE_BYTES]).decode("ascii").lower()[:_SIGNATURE_LENGTH]


def signed_reply_address(
    config: Config, ticket_number: int, tag: str, now: datetime | None = None
) -> str:
    local, _, domain = config.partner.address.partition("@")
    day = ((now or datetime.now(UTC)).date() - _EPOCH).days
    signature = _signature(config.partner.secret, ticket_number, tag, day)
    return f"{local}+{ticket_number}.{tag}.{day}.{signature}@{domain}"


def verify_reply_address(config: Config, address: str) -> ReplyTarget | None:
    """The ticket, tag and day of a correctly signed address of ours; None for anything else."""
    local_base = re.escape(config.partner.address.partition("@")[0])
    domains = "|".join(re.escape(d) for d in config.partner.domains)
    match = re.fullmatch(
        rf"{local_base}\+(\d{{1,12}})\.([a-z0-9]{{1,16}})(?:\.(\d{{1,6}}))?"
        rf"\.([a-z2-7]{{{_SIGNATURE_LENGTH}}})@({domains})",
        address.lower(),
    )
    if not match:
        return None
    number, tag, signature = int(match[1]), match[2], match[4]
    day = int(match[3]) if match[3] else None
    if not hmac.compare_digest(signature, _signature(config.partner.secret, number, tag, day)):
        return None
    return ReplyTarget(number, tag, _EPOCH + timedelta(days=day) if day is not None else None)
