"""What an escalation to Microsoft says as a Partner Center service request, and what the
request's status means for the ticket.

The ServiceRequest resource (Partner Center REST API, "Service request resources" on
Microsoft Learn): Title, Description, Severity (minimal | moderate | critical), SupportTopicId;
Microsoft answers with Id and Status (none | open | closed | attention_needed). Severity follows
the ticket's priority; the support topic comes from the escalation category by the partner's
`microsoft.support_topics` mapping. Pure: the caller sends the request and reads the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
