"""The one module that builds outgoing mail. It alone sets From:, the envelope sender,
Auto-Submitted, the threading headers and the signed reply address; everything else asks it.

Every message is From: the partner address, so customers only ever hear from the partner.
Writing the headers and the MIME body as bytes is gateway/delivery/wire.py's. The mails about
support plans (gateway/delivery/plan_mails.py) are built here too, through `build`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime, formataddr, make_msgid

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
    return build(
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
    return build(
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
    return build(
        config,
        purpose="notification",
        to=[agent.address],
        subject=tagged_subject(config, ticket.number, message.subject),
        body=body,
        reply_to=signed_reply_address(config, ticket.number, agent_tag(agent.address)),
        auto_submitted="auto-generated",
    )


def notice(
    config: Config, templates: Templates, agent: Agent, problem: str, subject: str, text: str
) -> OutgoingMail:
    """An operational notice to an admin-agent, e.g. a mailbox that cannot be read."""
    body = templates.render("notice", agent.language, text=text, partner=config.partner)
    return build(
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
    return build(
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
    return build(
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
    return build(
        config,
        purpose=purpose,
        to=[to],
        subject=tagged_subject(config, ticket.number, f"{label}{ticket.subject}"),
        body=body,
        auto_submitted=None,  # sent on an agent's command; the other side should answer it
        reply_to=signed_reply_address(config, ticket.number, UPSTREAM_TAG),
        attachments=attachments,
    )


def build(
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
