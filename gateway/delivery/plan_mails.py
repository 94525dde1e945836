"""Mail about support plans (docs/PLANS.md): SLA reminders and breaches, usage of the included
or prepaid hours, the daily digest and the monthly statements. Built, like all outgoing mail, by
gateway/delivery/sender.py's `build`, which alone sets From:."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway.config import Agent, Config, Customer
from gateway.delivery import sender
from gateway.delivery.reply_address import agent_tag, signed_reply_address
from gateway.delivery.sender import OutgoingMail
from gateway.delivery.templates import Templates
from gateway.delivery.wire import clean
from gateway.store.models import Ticket
from parsers.payloads import Payload
from routing.plans import Plan

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
        tag=sender.ticket_tag(config, ticket.number),
        ticket=ticket,
        clock=alert.clock,
        clock_name=_clock_name(alert.clock, agent.language),
        due=_local_time(plan, alert.due),
        plan=plan.id,
        partner=config.partner,
    )
    return sender.build(
        config,
        purpose="reminder",
        to=[agent.address],
        subject=sender.tagged_subject(config, ticket.number, f"Reminder: {ticket.subject}"),
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
        tag=sender.ticket_tag(config, ticket.number),
        ticket=ticket,
        clock_name=name,
        due=_local_time(plan, alert.due),
        plan=plan.id,
        partner=config.partner,
    )
    tag = sender.ticket_tag(config, ticket.number)
    return sender.build(
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
    return sender.build(
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
        tag=lambda number: sender.ticket_tag(config, number),
        when=lambda moment: _local_time(plan, moment),
        partner=config.partner,
    )
    return sender.build(
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
    return sender.build(
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
    return sender.build(
        config,
        purpose="statements",
        to=[agent.address],
        subject=clean(f"[gatewayd] statements {month}"),
        body=body,
        auto_submitted="auto-generated",
        attachments=files,
    )
