"""The rate limits, as pure decisions: the caller counts, this decides.

- Automatic mail to one sender (acknowledgements, a rule's reply) is capped per hour: two
  auto-responders answering each other would otherwise loop forever.
- SMTP sessions are capped in all and per client address: each holds a file descriptor until
  it ends or times out, and a thousand idle ones blocked intake for everyone. The one refused
  is told why (RFC 5321 §3.8: `421`, the client tries again later).
- A notice to an agent about one problem goes at most once per interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


def may_send_automatic(sent_this_hour: int, planned: int, per_hour: int) -> bool:
    """`sent_this_hour`: automatic mails of this kind to this sender in the last hour, whether
    written or still waiting in the batch; `planned`: those the current plan would send too."""
    return sent_this_hour + planned < per_hour


class SessionRefusal(Enum):
    IN_ALL = "too many sessions in all"
    FROM_ADDRESS = "too many sessions from this address"


@dataclass(frozen=True)
class SessionCaps:
    total: int
    per_address: int


def session_refusal(
    open_in_all: int, open_from_address: int, caps: SessionCaps
) -> SessionRefusal | None:
    """Why a new session may not start, or None when it may. The address's own cap is told
    first: a client that opened many sessions is the one to wait, not the others."""
    if open_from_address >= caps.per_address:
        return SessionRefusal.FROM_ADDRESS
    if open_in_all >= caps.total:
        return SessionRefusal.IN_ALL
    return None


def may_notify(sent_within_interval: int) -> bool:
    """A notice about one problem to one agent goes once per interval."""
    return sent_within_interval == 0
