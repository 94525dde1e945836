"""The one module that builds outgoing mail. It alone sets From:, the envelope sender,
Auto-Submitted, the threading headers and the signed reply address; everything else asks it.

Every message is From: the partner address, so customers only ever hear from the partner.
Writing the headers and the MIME body as bytes is gateway/delivery/wire.py's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from gateway.config import Agent, Config, Customer
from gateway.delivery.reply_address import UPSTREAM_TAG, agent_tag, signed_reply_address
from gateway.delivery.templates import Templates
from gateway.delivery.wire import (
    address_list,
    clean,
    encoded,
    header_block,
    mime_body,
    wire_address,
)
from gateway.store.models import Ticket, utcnow
from parsers.message import ParsedMessage
from parsers.payloads import Payload
from routing.plans import Plan
from routing.service_health import Incident


@dataclass(frozen=True)
class OutgoingMail:
    purpose: str  # acknowledgement | notification | ...
    recipients: tuple[str, ...]
    envelope_from: str
    message_id: str
    subject: str
    data: bytes
    rate_key: str | None = None  # outgoing mail of one key is counted for rate limits


def ticket_tag(config: Config, number: int) -> str:
    return f"[{config.partner.ticket_tag}#{number}]"


def tagged_subject(config: Config, number: int, subject: str) -> str:
    tag = ticket_tag(config, number)
    subject = clean(subject) or "(no subject)"
    return subject if tag.lower() in subject.lower() else f"{tag} {subject}"


def acknowledgement(
    config: Config,
    templates: Templates,
    ticket: Ticket,
    message: ParsedMessage,
    customer: Customer | None,
    known_issue: Incident | None = None,
    detected: str = "",  # the language triage read the mail in
) -> OutgoingMail:
    language = reply_language(templates, customer, detected)
    plan = config.plans.get(customer.plan if customer else None)
    target = plan.target("first_response", ticket.priority) or config.support.first_response
    body = templates.render(
        "acknowledgement",
        language,
        tag=ticket_tag(config, ticket.number),
        ticket=ticket,
        partner=config.partner,
        support=config.support,
        # The plan's hours where [[plans]] are written; else support.hours as the admin wrote
        # them (free text such as "Mon-Fri 8-18, not on public holidays" is allowed there).
        hours=plan.calendar.hours if config.plans.written else config.support.hours,
        timezone=plan.calendar.timezone,
        plan=plan.id if config.plans.written else None,
        first_response=describe_duration(target, language),
        known_issue=known_issue,
    )
    return _build(
        config,
        purpose="acknowledgement",
        to=[ticket.requester],
        subject=tagged_subject(config, ticket.number, message.subject),
        body=body,
        replying_to=message,
        # RFC 3834 §5: an automatic answer to a person's mail is "auto-replied".
        auto_submitted="auto-replied",
        rate_key=acknowledgement_rate_key(ticket.requester),
    )


def reply_language(templates: Templates, customer: Customer | None, detected: str) -> str:
    """The customer's configured language; else the language the mail was written in, where
    templates exist in it; else the customer's default (en)."""
    if customer and customer.language_given:
        return customer.language
    if detected and templates.has_language(detected):
        return detected
    return customer.language if customer else "en"


def acknowledgement_rate_key(requester: str) -> str:
    """Acknowledgements to one address are counted together (an auto-responder's loop)."""
    return f"acknowledgement:{requester}"


def template_reply(
    config: Config,
    templates: Templates,
    ticket: Ticket,
    message: ParsedMessage,
    customer: Customer | None,
    template: str,
    detected: str = "",  # the language triage read the mail in
) -> OutgoingMail:
    """An automatic answer named by a routing rule's `reply`, e.g. direct_microsoft."""
    body = templates.render(
        template,
        reply_language(templates, customer, detected),
        tag=ticket_tag(config, ticket.number),
        ticket=ticket,
        customer=customer,
        partner=config.partner,
        support=config.support,
    )
    return _build(
        config,
        purpose=f"reply:{template}",
        to=[ticket.requester],
        subject="Re: " + tagged_subject(config, ticket.number, message.subject),
        body=body,
        replying_to=message,
        auto_submitted="auto-replied",
        rate_key=f"reply:{ticket.requester}",
    )


def agent_notification(
    config: Config,
    templates: Templates,
    ticket: Ticket,
    message: ParsedMessage,
    customer: Customer | None,
    agent: Agent,
    followup: bool,
    unserved: bool = False,
    suggestion: str | None = None,  # what triage suggests where it was not sure enough to act
) -> OutgoingMail:
    """`unserved`: no agent of the ticket's queue may act on its customer; `agent` is an
    admin-agent told instead."""
    body = templates.render(
        "notification",
        agent.language,
        tag=ticket_tag(config, ticket.number),
        ticket=ticket,
        customer=customer,
        sender=message.from_addr,
        subject=message.subject,
        # A forward without a note has no new text of its own: its forwarded mail is shown.
        text=message.text if message.forwarded else message.text or message.full_text,
        forwarded=message.forwarded.as_json() if message.forwarded else None,
        defects=list(message.defects),
        attachments=[a.filename or "(unnamed)" for a in message.attachments if not a.inline],
        partner=config.partner,
        followup=followup,
        unserved=unserved,
        suggestion=suggestion,
    )
    return _build(
        config,
        purpose="notification",
        to=[agent.address],
        subject=tagged_subject(config, ticket.number, message.subject),
        body=body,
        reply_to=signed_reply_address(config, ticket.number, agent_tag(agent.address)),
        auto_submitted="auto-generated",
    )


_CLOCK_NAMES = {
    "en": {"first_response": "first response", "resolution": "resolution"},
    "nl": {"first_response": "eerste reactie", "resolution": "oplossing"},
}


def _clock_name(clock: str, language: str) -> str:
    return _CLOCK_NAMES.get(language, _CLOCK_NAMES["en"])[clock]


def _local_time(plan: Plan, moment: datetime) -> str:
    local = plan.calendar.local(moment)
    return f"{local:%Y-%m-%d %H:%M} ({plan.calendar.timezone})"


def sla_reminder(
    config: Config, templates: Templates, ticket: Ticket, agent: Agent, alert: Any, plan: Plan
) -> OutgoingMail:
    """A quarter of a ticket's target is left (in service time): to its agents, answerable."""
    body = templates.render(
        "sla_reminder",
        agent.language,
        tag=ticket_tag(config, ticket.number),
        ticket=ticket,
        clock=alert.clock,
        clock_name=_clock_name(alert.clock, agent.language),
        due=_local_time(plan, alert.due),
        plan=plan.id,
        partner=config.partner,
    )
    return _build(
        config,
        purpose="reminder",
        to=[agent.address],
        subject=tagged_subject(config, ticket.number, f"Reminder: {ticket.subject}"),
        body=body,
        reply_to=signed_reply_address(config, ticket.number, agent_tag(agent.address)),
        auto_submitted="auto-generated",
    )


def sla_breach(
    config: Config, templates: Templates, ticket: Ticket, agent: Agent, alert: Any, plan: Plan
) -> OutgoingMail:
    """A ticket missed a target: to an admin-agent, once per ticket and target."""
    name = _clock_name(alert.clock, agent.language)
    body = templates.render(
        "sla_breach",
        agent.language,
        tag=ticket_tag(config, ticket.number),
        ticket=ticket,
        clock_name=name,
        due=_local_time(plan, alert.due),
        plan=plan.id,
        partner=config.partner,
    )
    tag = ticket_tag(config, ticket.number)
    return _build(
        config,
        purpose="sla_breach",
        to=[agent.address],
        subject=clean(f"[gatewayd] {tag} missed its {_clock_name(alert.clock, 'en')} target"),
        body=body,
        reply_to=signed_reply_address(config, ticket.number, agent_tag(agent.address)),
        auto_submitted="auto-generated",
    )


def usage_notice(
    config: Config,
    templates: Templates,
    to: str,
    language: str,
    customer: Customer,
    plan: Plan,
    usage: Any,
    to_customer: bool,
) -> OutgoingMail:
    """A customer's time reached 80 % or 100 % of the included hours or of the prepaid block:
    to an admin-agent, or to the customer's contact where the plan says so."""
    numbers = {k: _hours(getattr(usage, k), language) for k in ("used", "of")}
    body = templates.render(
        "usage",
        language,
        customer=customer,
        percent=usage.percent,
        allowance=usage.allowance,
        month=str(usage.month),
        currency=plan.currency,
        rate=_hours(plan.rate, language),
        to_customer=to_customer,
        partner=config.partner,
        **numbers,
    )
    what = "included hours" if usage.allowance == "included" else "prepaid hours"
    subject = f"{customer.name}: {usage.percent} % of the {what} used"
    return _build(
        config,
        purpose="usage",
        to=[to],
        subject=clean(subject if to_customer else f"[gatewayd] {subject}"),
        body=body,
        auto_submitted="auto-generated",
    )


def _hours(value: Any, language: str) -> str:
    text = f"{float(value):.2f}"
    return text.replace(".", ",") if language == "nl" else text


def digest(config: Config, templates: Templates, found: Any, day: str) -> OutgoingMail:
    """An agent's tickets at the start of the day: breached, due today, waiting upstream,
    unassigned."""
    agent: Agent = found.agent
    titles = _DIGEST_TITLES.get(agent.language, _DIGEST_TITLES["en"])
    sections = [
        (titles[name], getattr(found, name))
        for name in ("breached", "due_today", "waiting_upstream", "unassigned")
    ]
    plan = config.plans.get(None)
    body = templates.render(
        "digest",
        agent.language,
        agent=agent,
        day=day,
        sections=sections,
        tag=lambda number: ticket_tag(config, number),
        when=lambda moment: _local_time(plan, moment),
        partner=config.partner,
    )
    return _build(
        config,
        purpose="digest",
        to=[agent.address],
        subject=clean(f"[gatewayd] your digest of {day}"),
        body=body,
        auto_submitted="auto-generated",
    )


_DIGEST_TITLES = {
    "en": {
        "breached": "Breached",
        "due_today": "Due today",
        "waiting_upstream": "Waiting on Microsoft or a provider",
        "unassigned": "Not assigned",
    },
    "nl": {
        "breached": "Doel niet gehaald",
        "due_today": "Vandaag uiterlijk",
        "waiting_upstream": "Wacht op Microsoft of een leverancier",
        "unassigned": "Niet toegewezen",
    },
}
_STATEMENT_SUBJECT = {"en": "Support statement {month}", "nl": "Supportoverzicht {month}"}


def statement(
    config: Config,
    templates: Templates,
    customer: Customer,
    month: str,
    text: str,
    page: str,
) -> OutgoingMail:
    """A customer's monthly statement, in their language, with the HTML page attached."""
    assert customer.contact is not None
    body = templates.render(
        "statement_mail",
        customer.language,
        customer=customer,
        month=month,
        statement=text,
        partner=config.partner,
        support=config.support,
    )
    subject = _STATEMENT_SUBJECT.get(customer.language, _STATEMENT_SUBJECT["en"])
    attached = Payload(f"statement-{month}.html", "text/html", page.encode("utf-8"))
    return _build(
        config,
        purpose="statement",
        to=[customer.contact],
        subject=clean(f"{config.partner.name}: {subject.format(month=month)}"),
        body=body,
        auto_submitted="auto-generated",
        attachments=[attached],
    )


def statements_summary(
    config: Config,
    templates: Templates,
    agent: Agent,
    month: str,
    figures: Sequence[dict[str, Any]],
    mailed: dict[str, str],
    page: str,
    csv_text: str,
) -> OutgoingMail:
    """The month's figures of every customer to an admin-agent, with the HTML and the CSV."""
    body = templates.render(
        "statements_summary",
        agent.language,
        month=month,
        customers=figures,
        mailed=mailed,
        partner=config.partner,
    )
    files = [
        Payload(f"statements-{month}.html", "text/html", page.encode("utf-8")),
        Payload(f"time-{month}.csv", "text/csv", csv_text.encode("utf-8")),
    ]
    return _build(
        config,
        purpose="statements",
        to=[agent.address],
        subject=clean(f"[gatewayd] statements {month}"),
        body=body,
        auto_submitted="auto-generated",
        attachments=files,
    )


def notice(
    config: Config, templates: Templates, agent: Agent, problem: str, subject: str, text: str
) -> OutgoingMail:
    """An operational notice to an admin-agent, e.g. a mailbox that cannot be read."""
    body = templates.render("notice", agent.language, text=text, partner=config.partner)
    return _build(
        config,
        purpose="notice",
        to=[agent.address],
        subject=clean(f"[gatewayd] {subject}"),
        body=body,
        auto_submitted="auto-generated",
        rate_key=f"notice:{problem}:{agent.address}",
    )


_REFUSED_SUBJECT = {
    "en": "your reply on ticket {tag} was not sent",
    "nl": "je antwoord op ticket {tag} is niet verzonden",
}


def refused_reply(
    config: Config, templates: Templates, agent: Agent, ticket: Ticket, reason: str, problem: str
) -> OutgoingMail:
    """Tells the agent a reply claimed by them was not acted on, and why (only them: it is
    not an operational problem for the admin-agents)."""
    tag = ticket_tag(config, ticket.number)
    body = templates.render(
        "refused", agent.language, tag=tag, subject=ticket.subject, reason=reason
    )
    subject = _REFUSED_SUBJECT.get(agent.language, _REFUSED_SUBJECT["en"]).format(tag=tag)
    return _build(
        config,
        purpose="notice",
        to=[agent.address],
        subject=clean(f"[gatewayd] {subject}"),
        body=body,
        auto_submitted="auto-generated",
        rate_key=f"notice:reply-{problem}:{agent.address}",
    )


def agent_answer(
    config: Config,
    ticket: Ticket,
    to: Sequence[str],
    cc: Sequence[str],
    text: str,
    attachments: Sequence[Payload],
    thread: Sequence[str],
) -> OutgoingMail:
    """An agent's answer to the customer: from the partner, in the customer's thread; nothing
    of the agent's own message (From, name, Message-ID, other headers) is carried over."""
    return _build(
        config,
        purpose="answer",
        to=to,
        cc=cc,
        subject="Re: " + tagged_subject(config, ticket.number, ticket.subject),
        body=text,
        auto_submitted=None,  # a person wrote it
        in_reply_to=thread[-1] if thread else None,
        references=thread,
        attachments=attachments,
    )


def handover(
    config: Config,
    templates: Templates,
    ticket: Ticket,
    customer: Customer | None,
    to: str,
    purpose: str,
    category: str,
    text: str,
    attachments: Sequence[Payload],
) -> OutgoingMail:
    """An escalation to Microsoft or the indirect provider, or a forward to a support party.
    Their replies come back through the signed upstream Reply-To."""
    body = templates.render(
        "handover",
        customer.language if customer else "en",
        ticket=ticket,
        customer=customer,
        category=category,
        text=text,
        partner=config.partner,
        purpose=purpose,
        tag=ticket_tag(config, ticket.number),
    )
    label = f"{category}: " if category else ""
    return _build(
        config,
        purpose=purpose,
        to=[to],
        subject=tagged_subject(config, ticket.number, f"{label}{ticket.subject}"),
        body=body,
        auto_submitted=None,  # sent on an agent's command; the other side should answer it
        reply_to=signed_reply_address(config, ticket.number, UPSTREAM_TAG),
        attachments=attachments,
    )


def _build(
    config: Config,
    *,
    purpose: str,
    to: Sequence[str],
    subject: str,
    body: str,
    auto_submitted: str | None,
    cc: Sequence[str] = (),
    reply_to: str | None = None,
    replying_to: ParsedMessage | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    attachments: Sequence[Payload] = (),
    rate_key: str | None = None,
) -> OutgoingMail:
    message_id = make_msgid(domain=config.partner.address.partition("@")[2])
    headers = [
        ("From", formataddr((clean(config.partner.name), config.partner.address), "utf-8")),
        ("To", address_list(to)),
        *([("Cc", address_list(cc))] if cc else []),
        ("Subject", encoded(subject)),
        ("Date", format_datetime(utcnow())),
        ("Message-ID", message_id),
        *([("Reply-To", reply_to)] if reply_to else []),
    ]
    if replying_to and replying_to.message_id:
        in_reply_to = replying_to.message_id
        references = [*replying_to.references, replying_to.message_id]
    if in_reply_to:
        headers.append(("In-Reply-To", in_reply_to))
    if references:
        headers.append(("References", "\r\n ".join(list(references)[-20:])))
    if auto_submitted:
        headers.append(("Auto-Submitted", auto_submitted))
    # Exchange and Outlook: no out-of-office or read receipts back to the gateway.
    headers += [("X-Auto-Response-Suppress", "All"), ("MIME-Version", "1.0")]
    # Written out directly: every value is cleaned or encoded here, and the email package's
    # generator (re-parsing and re-folding each header) was most of the processor's time.
    data = header_block(headers) + mime_body(body, attachments)
    return OutgoingMail(
        purpose=purpose,
        recipients=tuple(dict.fromkeys(wire_address(a) for a in [*to, *cc])),
        envelope_from=config.partner.address,
        message_id=message_id,
        subject=subject,
        data=data,
        rate_key=rate_key,
    )


_UNITS = {
    "en": (("day", "days", 86400), ("hour", "hours", 3600), ("minute", "minutes", 60)),
    "nl": (("dag", "dagen", 86400), ("uur", "uur", 3600), ("minuut", "minuten", 60)),
}


def describe_duration(duration: timedelta, language: str = "en") -> str:
    """'4 hours', '4 uur': the largest unit that divides the duration evenly."""
    seconds = int(duration.total_seconds())
    for one, many, size in _UNITS.get(language, _UNITS["en"]):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {one if count == 1 else many}"
    return f"{seconds} s"
