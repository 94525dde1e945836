"""The stages after parsing, for one message: identify and thread it, then keep a robot's mail,
act on an agent's reply, add a follow-up or open a ticket.

Each stage reads what it needs and plans its effects on the ticket (gateway/processing/plan.py);
`plan.apply` writes them, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from gateway.config import Config, Customer
from gateway.delivery import sender
from gateway.processing import tickets
from gateway.processing.agent_replies import handle_agent_mail, is_agent_mail
from gateway.processing.context import Context
from gateway.processing.decision import decide
from gateway.processing.handovers import escalation_address, party_address
from gateway.processing.identity import Author, agents_to_notify, identify
from gateway.processing.outages import join_incident, link_to_escalation
from gateway.processing.plan import Plan, apply
from gateway.processing.threader import ThreadMatch, find_ticket, foreign_references
from gateway.processing.triage_model import mail_text
from gateway.store import outbox as outbox_rows
from gateway.store.batch import Batch
from gateway.store.models import RawMessage, Ticket, TicketMessage, TicketStatus, utcnow
from parsers.closings import without_closing
from parsers.message import ParsedMessage, Unparseable, parse_message
from parsers.subjects import case_numbers
from routing import Decision
from routing.intents import Triage
from routing.rate_limits import may_send_automatic
from routing.service_health import Incident
from routing.triage_text import detect_language, document

ROBOT_KINDS = ("auto_reply", "bounce", "list")
# What became of a message, as /metrics counts it and `gatewayd import` sums it up
# (gateway/runtime/metrics.py PROCESSING_OUTCOMES).
OUTCOMES = ("ticket", "follow_up", "agent_reply", "robot", "quarantined", "other")


@dataclass(frozen=True)
class Handled:
    """What process_raw did with a message: its outcome (one of OUTCOMES), a description for
    the log, and the ticket it opened or was added to, if any."""

    kind: str
    text: str
    ticket: Ticket | None = None


_HOUR = timedelta(hours=1)


def process_raw(
    batch: Batch,
    raw: RawMessage,
    context: Context,
    parsed: ParsedMessage | Unparseable | None = None,
    triage: Triage | None = None,
) -> Handled:
    """The stages, in order. Returns what was done. `parsed`: what the
    parser stage made of `raw.data`, if it did; `triage`: what triage made of it, if its batch
    was classified ahead."""
    if isinstance(parsed, Unparseable):
        raise parsed
    message = parsed or parse_message(raw.data, raw.mail_from)
    who = identify(message.from_addr, context.config)
    customer_id = who.customer.id if who.customer else None
    staff = who.role in ("upstream", "agent")
    match = find_ticket(batch, message, raw.rcpt_to, customer_id, context.config, staff)
    kind = _kind(message, raw)
    if kind in ROBOT_KINDS:
        return Handled("robot", _keep_robot_mail(batch, raw, message, match, kind, context))
    if who.role == "partner":  # a loop through a forwarding rule
        return Handled("other", "own mail came back; kept, nothing sent")
    if match and is_agent_mail(match, who):
        config, templates = context.config, context.templates
        text = handle_agent_mail(batch, raw, message, match, who, config, templates)
        return Handled("agent_reply", text)
    if match:
        text = _follow_up(batch, raw, message, match.ticket, who, context)
        return Handled("follow_up", text, match.ticket)
    if who.role == "upstream":
        return Handled("other", "upstream mail without a ticket; kept")
    return _new_ticket(batch, raw, message, who, context, triage)


def _kind(message: ParsedMessage, raw: RawMessage) -> str:
    """The parser's kind, but mail from the null sender is never a person's (RFC 5321 §4.5.5);
    RFC 3834 auto-replies use the null sender too, so the parser's auto_reply stands."""
    if message.kind in ("bounce", "auto_reply"):
        return message.kind
    return "bounce" if raw.mail_from == "" else message.kind


def _keep_robot_mail(
    batch: Batch,
    raw: RawMessage,
    message: ParsedMessage,
    match: ThreadMatch | None,
    kind: str,
    context: Context,
) -> str:
    """Auto-replies, bounces and list mail never open a ticket and never get an answer."""
    if match is None:
        return f"{kind}; kept, no ticket"
    plan = Plan(match.ticket)
    plan.record(message, "system", raw.id)
    plan.note(kind, recipients=list(message.bounced_recipients))
    apply(batch, plan, context.config, context.templates)
    return f"{kind}; attached to ticket {match.ticket.number}"


def _follow_up(
    batch: Batch,
    raw: RawMessage,
    message: ParsedMessage,
    ticket: Ticket,
    who: Author,
    context: Context,
) -> str:
    kind = "upstream" if who.role == "upstream" else "customer"
    if kind == "customer":
        message = _without_known_closing(batch, ticket, message)
    plan = Plan(ticket)
    plan.record(message, kind, raw.id)
    _note_defects(plan, message)
    if kind == "upstream":
        plan.case_numbers(tuple(case_numbers(message.subject)))
    reopens = (
        (TicketStatus.WAITING_UPSTREAM,)
        if kind == "upstream"
        else (TicketStatus.CLOSED, TicketStatus.WAITING_CUSTOMER)
    )
    # Archive mode (import --no-mail): the past neither reopens a ticket nor closes one.
    if ticket.status in reopens and context.mail:
        plan.status(TicketStatus.OPEN, f"{kind} wrote")
    _notify_agents(plan, message, context, followup=True)
    apply(batch, plan, context.config, context.templates)
    return f"follow-up on ticket {ticket.number}"


# A sender's closing block repeats from mail to mail; a few of their latest mails show it.
_EARLIER_MAILS = 5


def _without_known_closing(batch: Batch, ticket: Ticket, message: ParsedMessage) -> ParsedMessage:
    """A step beyond the parser, as Zammad does: the closing block (company lines, phone
    numbers, notices) that this sender's earlier mails on the ticket ended with is cut from
    the new text; the sign-off stays (parsers/closings.py)."""
    earlier = batch.scalars(
        select(TicketMessage.text)
        .where(
            TicketMessage.ticket_id == ticket.id,
            TicketMessage.direction == "in",
            TicketMessage.from_addr == message.from_addr,
        )
        .order_by(TicketMessage.id.desc())
        .limit(_EARLIER_MAILS)
    ).all()
    text = without_closing(message.text, earlier)
    return message if text == message.text else replace(message, text=text)


def _new_ticket(
    batch: Batch,
    raw: RawMessage,
    message: ParsedMessage,
    who: Author,
    context: Context,
    triage: Triage | None = None,
) -> Handled:
    customer = who.customer
    routed = decide(message, who, context, utcnow(), triage, session=batch.session)
    incident, triage, decision = routed.incident, routed.triage, routed.decision
    ticket = tickets.open_ticket(
        batch, message.subject, message.from_addr, customer.id if customer else None, decision
    )
    plan = Plan(ticket)
    plan.record(message, "customer", raw.id)
    _note_defects(plan, message)
    plan.note(
        "routed",
        action=decision.action,
        target=decision.target,
        rule=decision.rule,
        **_triage_fields(triage),
    )
    if incident:
        plan.note("known_issue", id=incident.id, title=incident.title)
    _note_foreign_references(batch, plan, message, customer)
    language = triage.language if triage else detect_language(document(mail_text(message)))
    _acknowledge(batch, plan, message, context, incident, language)
    if decision.reply:
        _reply_with(batch, plan, message, decision.reply, context, language)
    suggestion = decision.suggestion.line() if decision.suggestion else None
    _notify_agents(plan, message, context, followup=False, suggestion=suggestion)
    apply(batch, plan, context.config, context.templates)
    _act_on(batch, ticket, decision, context, incident)
    return Handled("ticket", f"new ticket {ticket.number} ({decision.action} -> {decision.target})",
                   ticket)  # fmt: skip


def _note_foreign_references(
    batch: Batch, plan: Plan, message: ParsedMessage, customer: Customer | None
) -> None:
    """The message names another customer's ticket in its references: it was not threaded
    there, and the agents see the link."""
    if not (message.in_reply_to or message.references):
        return
    for other in foreign_references(batch, message, customer.id if customer else None):
        plan.note("references_other_ticket", number=other.number)


def _note_defects(plan: Plan, message: ParsedMessage) -> None:
    """What was odd about the mail and what the parser assumed, on the ticket for the agents."""
    if message.defects:
        plan.note("defects", defects=list(message.defects))


def _triage_fields(triage: Triage | None) -> dict[str, Any]:
    if triage is None:
        return {}
    return {
        "intent": triage.top,
        "confidence": round(triage.confidence, 3),
        "language": triage.language,
    }


def _reply_with(
    batch: Batch,
    plan: Plan,
    message: ParsedMessage,
    template: str,
    context: Context,
    language: str = "",
) -> None:
    """A rule's `reply`: a template sent to the customer besides the acknowledgement."""
    config, ticket = context.config, plan.ticket
    if not plan.answerable("reply"):
        return
    customer = customer_of(ticket, config)
    mail = sender.template_reply(
        config, context.templates, ticket, message, customer, template, language
    )
    if _over_rate(batch, plan, mail, config):
        plan.note("reply_suppressed", reason="rate limit")
        return
    plan.send(mail)
    plan.note("replied", template=template)


def _acknowledge(
    batch: Batch,
    plan: Plan,
    message: ParsedMessage,
    context: Context,
    incident: Incident | None = None,
    language: str = "",
) -> None:
    config, ticket = context.config, plan.ticket
    if not plan.answerable("acknowledgement"):
        return
    customer = customer_of(ticket, config)
    templates = context.templates
    mail = sender.acknowledgement(config, templates, ticket, message, customer, incident, language)
    # Two auto-responders answering each other would loop forever; a cap per sender ends it.
    if _over_rate(batch, plan, mail, config):
        plan.note("acknowledgement_suppressed", reason="rate limit")
        return
    plan.send(mail)


def _over_rate(batch: Batch, plan: Plan, mail: sender.OutgoingMail, config: Config) -> bool:
    """This sender got `acks_per_hour` automatic mails of this kind already, counting the ones
    this plan would send."""
    key = mail.rate_key or ""
    planned = sum(1 for m in plan.mails() if m.rate_key == key)
    sent = outbox_rows.sent_recently(batch, key, _HOUR)
    return not may_send_automatic(sent, planned, config.support.acks_per_hour)


def _act_on(
    batch: Batch,
    ticket: Ticket,
    decision: Decision,
    context: Context,
    incident: Incident | None,
) -> None:
    """A rule that escalates or forwards sends the ticket upstream at once; escalations of
    several customers about one problem go up once (gateway/processing/outages.py)."""
    config = context.config
    if decision.action == "escalate":
        to = escalation_address(config, ticket.customer_id)
        purpose, category = "escalation", decision.category or ""
    elif decision.action == "forward":
        to, purpose, category = party_address(config, decision.target), "forward", ""
    elif incident is not None:
        _cluster_known_issue(batch, ticket, incident, context)
        return
    else:
        return
    plan = Plan(ticket)
    if to is None:  # e.g. no microsoft.escalation_address: the agents must decide
        plan.note("handover_impossible", reason="no address to send to")
    elif purpose == "escalation":
        cluster = join_incident(batch, config, f"escalation|{category}|{to}", ticket, utcnow())
        if cluster.escalated_ticket is not None:
            link_to_escalation(batch, ticket, cluster)
            return
        cluster.escalated_ticket = ticket.number
        plan.hand_over(to, purpose, category)
    else:
        plan.hand_over(to, purpose, category)
    apply(batch, plan, config, context.templates)


def _cluster_known_issue(
    batch: Batch, ticket: Ticket, incident: Incident, context: Context
) -> None:
    config = context.config
    to = escalation_address(config, ticket.customer_id)
    if to is None:
        return
    cluster = join_incident(batch, config, f"known|{incident.id}|{to}", ticket, utcnow())
    if cluster.escalated_ticket is not None:
        link_to_escalation(batch, ticket, cluster)
    elif len(cluster.customers) >= config.cluster_after:
        category = f"Known issue {incident.id} affects {len(cluster.customers)} customers"
        cluster.escalated_ticket = ticket.number
        plan = Plan(ticket)
        plan.hand_over(to, "escalation", category)
        apply(batch, plan, config, context.templates)


def _notify_agents(
    plan: Plan,
    message: ParsedMessage,
    context: Context,
    followup: bool,
    suggestion: str | None = None,
) -> None:
    config, ticket = context.config, plan.ticket
    customer = customer_of(ticket, config)
    agents = agents_to_notify(ticket.customer_id, ticket.queue, config)
    unserved = not agents
    if unserved:  # a ticket nobody would hear of: the admin-agents must, and learn why
        agents = [agent for agent in config.agents if "admin-agent" in agent.roles]
    for agent in agents:
        mail = sender.agent_notification(
            config,
            context.templates,
            ticket,
            message,
            customer,
            agent,
            followup,
            unserved=unserved,
            suggestion=suggestion,
        )
        plan.send(mail)
    if agents:
        addresses = [a.address for a in agents]
        reason = {"reason": "no agent of the queue may act on the customer"} if unserved else {}
        plan.note("notified", agents=addresses, **reason)


def customer_of(ticket: Ticket, config: Config) -> Customer | None:
    return config.customer(ticket.customer_id)
