"""Whether a reply that claims to be an agent's may be acted on: the pure part of the check.

The caller gathers the evidence (gateway/processing/agent_replies.py); this decides. A reply is
acted on only when it went to the agent's signed reply address, shows the agent in From:, and comes
from the agent's own mail system: its envelope sender is the agent's address or domain (after BATV
and SRS rewriting), or the trusted MTA saw DKIM or DMARC pass for the agent's domain. From: and
the signed address alone are not enough: a forwarded notification would hand the agent's
rights to whoever it reaches.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplyEvidence:
    agent: str | None  # the agent the signed reply address names
    signed: bool  # sent to a signed reply address of an agent
    fresh: bool  # that address is within security.reply_address_lifetime
    from_addr: str
    envelope_sender: str | None  # as its owner wrote it (BATV, SRS undone); None: not known
    authserv_id: str  # security.trusted_authserv_id; "" when not set
    dkim_pass: bool  # that MTA's own results show DKIM or DMARC pass for the agent's domain


@dataclass(frozen=True)
class Refusal:
    reason: str  # told to the agent, ends without a full stop
    problem: str  # notices of one problem reach an agent once an hour


def refusal_of(evidence: ReplyEvidence) -> Refusal | None:
    """Why the reply may not be acted on, or None when it may."""
    agent = evidence.agent
    if agent is None:
        return Refusal("the reply address names no configured agent", "unknown-agent")
    if not evidence.signed:
        return Refusal("it was not sent to the signed reply address of a notification", "unsigned")
    if evidence.from_addr != agent:
        return Refusal(f"it came from {evidence.from_addr}, not from {agent}", "sender")
    if evidence.authserv_id and not evidence.dkim_pass:
        domain = _domain(agent)
        reason = f"{evidence.authserv_id} shows no DKIM or DMARC pass for {domain}"
        return Refusal(reason, "unauthenticated")
    return _envelope_refusal(evidence, agent)


def _envelope_refusal(evidence: ReplyEvidence, agent: str) -> Refusal | None:
    envelope = evidence.envelope_sender
    if not evidence.fresh:
        # An old notification may have travelled anywhere: only the agent's own envelope.
        if envelope == agent:
            return None
        return Refusal(
            f"its reply address has expired and its envelope sender is {_shown(envelope)}, "
            f"not {agent} itself; reply to the ticket's latest notification instead",
            "expired",
        )
    if evidence.dkim_pass or (envelope is not None and _domain(envelope) == _domain(agent)):
        return None
    return Refusal(
        f"its envelope sender is {_shown(envelope)}, not {agent} or another address at "
        f"{_domain(agent)}",
        "envelope",
    )


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _shown(envelope: str | None) -> str:
    return "unknown" if envelope is None else f"<{envelope}>"
