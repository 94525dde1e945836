"""What an escalation to Microsoft says as a Partner Center service request, and what the
request's status means for the ticket.

The ServiceRequest resource (Partner Center REST API, "Service request resources" on
Microsoft Learn): Title, Description, Severity (minimal | moderate | critical), SupportTopicId;
Microsoft answers with Id and Status (none | open | closed | attention_needed). Severity follows
the ticket's priority; the support topic comes from the escalation category by the partner's
`microsoft.support_topics` mapping. Pure: the caller sends the request and reads the answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

SEVERITY = {"urgent": "critical", "high": "moderate"}  # anything else: minimal
TITLE_LENGTH = 256  # longer titles are refused; the ticket tag comes first, so it stays
DESCRIPTION_LENGTH = 32_000


@dataclass(frozen=True)
class Draft:
    title: str
    description: str
    severity: str
    support_topic_id: str | None  # None: the category has no topic; e-mail escalation instead

    def body(self) -> dict[str, Any]:
        """The JSON of POST /v1/servicerequests/{agentLocale}."""
        return {
            "Title": self.title,
            "Description": self.description,
            "Severity": self.severity,
            "SupportTopicId": self.support_topic_id,
        }


def draft(
    tag: str,
    subject: str,
    customer: str,
    tenant: str,
    category: str,
    priority: str,
    text: str,
    topics: Mapping[str, str],
) -> Draft:
    """The service request for a ticket escalated to Microsoft."""
    title = f"{tag} {category}: {subject}" if category else f"{tag} {subject}"
    facts = [f"Customer: {customer}", f"Tenant: {tenant or 'unknown'}"]
    if category:
        facts.append(f"Category: {category}")
    description = "\n".join([*facts, "", text.strip()])
    return Draft(
        title=" ".join(title.split())[:TITLE_LENGTH],
        description=description[:DESCRIPTION_LENGTH],
        severity=SEVERITY.get(priority, "minimal"),
        support_topic_id=topics.get(category) or topics.get("*"),
    )


@dataclass(frozen=True)
class Progress:
    ticket_status: str | None  # the ticket's new status, or None to keep it
    tell_agents: bool  # the ticket's agents hear of the change


def progress(old_status: str | None, new_status: str) -> Progress:
    """What a service request's new status means for its ticket. Only a change counts;
    the agents decide what the customer is told."""
    if new_status == old_status:
        return Progress(None, False)
    if new_status == "attention_needed":  # Microsoft waits on the partner
        return Progress("open", True)
    if new_status == "closed":
        return Progress("open", True)  # back with the agents, who close the ticket
    return Progress(None, old_status is not None)


# --- following a request: what Microsoft's changes tell the agents ------------------------


@dataclass(frozen=True)
class RequestNote:
    by: str
    at: str
    text: str


@dataclass(frozen=True)
class News:
    progress: Progress
    texts: tuple[str, ...]  # one upstream message each, for the ticket's agents only


def news(
    request_id: str,
    old_status: str | None,
    new_status: str,
    notes: Sequence[RequestNote],
    seen: int,
    ours: Collection[str],
) -> News:
    """What a poll of service request `request_id` brings: its status change and the notes
    after the first `seen`, less those the partner's agents wrote (`ours`: their fingerprints)."""
    texts = [
        f"Note from {note.by or 'Microsoft'} on service request {request_id} "
        f"({note.at}):\n\n{note.text.strip()}"
        for note in notes[seen:]
        if fingerprint(note.text) not in ours
    ]
    moved = progress(old_status, new_status)
    if moved.tell_agents:
        status = STATUS_WORDS.get(new_status, new_status)
        texts.insert(0, f"Service request {request_id} is now {status}.")
    if texts and moved.ticket_status is None:
        moved = Progress("open", True)  # a note from Microsoft moves the ticket as a reply does
    return News(moved, tuple(texts))


STATUS_WORDS = {
    "attention_needed": "waiting for the partner (attention needed)",
    "closed": "closed by Microsoft",
    "open": "open",
}


def fingerprint(text: str) -> str:
    """Of a note's text, whitespace aside: how the partner's own notes are known again."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:32]


def retry_delay(attempts: int, initial: timedelta, maximum: timedelta) -> timedelta:
    """Exponential backoff from `initial`, capped at `maximum` (as the outbox's)."""
    doublings = min(max(attempts - 1, 0), 32)
    delay: timedelta = initial * 2**doublings
    return min(delay, maximum)


# Entra ID refresh tokens end after 90 days unused (entra/identity-platform/refresh-tokens);
# the admins are told two weeks before, while a login is still a chore and not an outage.
REFRESH_TOKEN_LIFETIME = timedelta(days=90)
WARN_BEFORE = timedelta(days=14)


def sign_in_warning(refreshed_at: datetime, now: datetime) -> str | None:
    """A warning for the admin-agents when the kept sign-in nears its end unused, else None."""
    ends = refreshed_at + REFRESH_TOKEN_LIFETIME
    if now < ends - WARN_BEFORE:
        return None
    if now >= ends:
        return (
            f"The Partner Center sign-in was last renewed on {refreshed_at:%Y-%m-%d} and has "
            "expired: escalations wait (and fall back to e-mail). Run gatewayd microsoft login."
        )
    return (
        f"The Partner Center sign-in was last renewed on {refreshed_at:%Y-%m-%d} and ends "
        f"on {ends:%Y-%m-%d} unless the daemon can renew it; run gatewayd microsoft login."
    )
