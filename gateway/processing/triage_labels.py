"""The partner's own labels: intents agents gave tickets when they corrected a route.

Kept by `#intent <name>` (any agent who may act on the ticket) and by `#escalate` of a ticket
that was handled (its category, or the intent triage suggested); a reply that is refused keeps
nothing. `gatewayd triage labels` lists them; `gatewayd triage train` learns from them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.processing.tickets import add_event
from gateway.store.batch import Batch
from gateway.store.models import Event, Ticket, TicketMessage, TriageLabel, utcnow
from routing.intents import CATEGORIES, INTENTS, UPSTREAM, MailText
from routing.triage import Example

_INTENT_OF_CATEGORY = {category.lower(): intent for intent, category in CATEGORIES.items()}


def keep(batch: Batch, ticket: Ticket, intent: str, agent: str) -> None:
    """The ticket's first customer text, labelled `intent` by `agent`."""
    assert intent in INTENTS
    first = batch.scalars(
        select(TicketMessage)
        .where(TicketMessage.ticket_id == ticket.id, TicketMessage.kind == "customer")
        .order_by(TicketMessage.id)
        .limit(1)
    ).first()
    text = first.text if first else ""
    label = TriageLabel(
        ticket_id=ticket.id,
        intent=intent,
        agent=agent,
        at=utcnow(),
        subject=ticket.subject,
        text=text,
    )
    batch.session.add(label)
    add_event(batch, ticket, "labelled", intent=intent, agent=agent)


def intent_of_escalation(batch: Batch, ticket: Ticket, category: str) -> str | None:
    """What an agent's `#escalate [category]` of a handled ticket says its intent was: the
    category's, else the upstream intent triage found (the suggestion), else none known."""
    named = _INTENT_OF_CATEGORY.get(category.strip().lower())
    if named:
        return named
    routed = batch.scalars(
        select(Event).where(Event.ticket_id == ticket.id, Event.what == "routed").limit(1)
    ).first()
    intent = (routed.detail or {}).get("intent") if routed else None
    return intent if intent in UPSTREAM else None


def all_labels(session: Session) -> list[tuple[TriageLabel, int]]:
    """Every label with its ticket's number, oldest first."""
    rows = session.execute(
        select(TriageLabel, Ticket.number)
        .join(Ticket, Ticket.id == TriageLabel.ticket_id)
        .order_by(TriageLabel.id)
    ).all()
    return [(label, number) for label, number in rows]


def label_json(label: TriageLabel, number: int) -> dict[str, Any]:
    return {
        "ticket": number,
        "intent": label.intent,
        "agent": label.agent,
        "at": label.at.isoformat(),
    }


def mail_of(label: TriageLabel) -> MailText:
    return MailText(label.subject, label.text)


def examples(session: Session) -> list[Example]:
    """The labels as training examples, numbered by their id (which picks the held-out ones)."""
    return [
        Example(mail_of(label), label.intent, line=label.id) for label, _ in all_labels(session)
    ]
