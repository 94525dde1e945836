"""Where a new request goes: the known issue it matches, what triage makes of it, and the rules'
decision. One sequence, shared by processing (gateway/processing/stages.py) and
`gatewayd route --explain`, so that what the admin is shown is what the daemon does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from gateway.config import Config
from gateway.processing.context import Context
from gateway.processing.identity import Author
from gateway.processing.triage_model import mail_text
from gateway.store.models import utcnow
from parsers.message import ParsedMessage
from routing import Decision, Facts
from routing import decide as decide_by_rules
from routing.hours import parse_hours, within
from routing.intents import Triage
from routing.service_health import Incident


@dataclass(frozen=True)
class Routed:
    incident: Incident | None  # the known issue or service-health incident the mail is about
    triage: Triage | None  # None when the policy has no rules on intents and nobody asked
    decision: Decision


def decide(
    message: ParsedMessage,
    who: Author,
    context: Context,
    now: datetime,
    triage: Triage | None = None,
    explain: bool = False,
    session: Session | None = None,
) -> Routed:
    """Where a new request goes. `triage`: the batch's classification, when it was made ahead;
    `explain` classifies even for a policy without rules on intents, with the evidence; with
    `session`, the service health the daemon polls from Graph counts too."""
    customer_id = who.customer.id if who.customer else None
    text = request_text(message)
    incident = context.health.incident_for(message.subject, text, now, customer_id, session)
    if triage is None and (explain or context.triages):
        triage = context.triager.classify(mail_text(message), evidence=explain)
    known = incident is not None
    decision = route(message, who, context.config, known_issue=known, triage=triage, now=now)
    return Routed(incident, triage, decision)


def route(
    message: ParsedMessage,
    who: Author,
    config: Config,
    known_issue: bool = False,
    triage: Triage | None = None,
    now: datetime | None = None,
) -> Decision:
    customer = who.customer
    facts = Facts(
        subject=message.subject,
        text=message.text,
        sender=message.from_addr,
        customer=customer.id if customer else None,
        billing=customer.billing if customer else None,
        provider=customer.provider if customer else None,
        direct_microsoft=bool(customer and customer.direct_microsoft),
        has_attachment=any(not a.inline for a in message.attachments),  # not signature logos
        known_issue=known_issue,
        in_hours=in_service_hours(config, now or utcnow()),
        headers=message.headers,
        forwarded_text=mail_text(message).forwarded_text,
        triage=triage,
    )
    return decide_by_rules(facts, config.rules)


def request_text(message: ParsedMessage) -> str:
    """What the customer asks: the new text, and the mail it forwards ("see below")."""
    if message.forwarded is None:
        return message.text
    return f"{message.text}\n\n{message.forwarded.text}"


def in_service_hours(config: Config, now: datetime) -> bool:
    """Within `support.hours` in `support.timezone`. Hours written as free text that the
    "Mon-Fri 08:00-18:00" form does not cover count as always open: the rule then never
    sends mail elsewhere by mistake."""
    spans = parse_hours(config.support.hours)
    return spans is None or within(spans, now.astimezone(ZoneInfo(config.support.timezone)))
