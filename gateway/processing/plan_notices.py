"""The plans' mail, queued in the transaction that makes it once: SLA reminders and breach
notices (an event per ticket and clock), usage notices and the daily digest and monthly
statements (a sent_once key each). Built by gateway/delivery/plan_mails.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from gateway.config import Agent, Config
from gateway.delivery import outbox, plan_mails, sender
from gateway.delivery.templates import Templates
from gateway.processing import plan_timers, tickets, time_entries
from gateway.processing.identity import agents_to_notify
from gateway.processing.plan_timers import plan_for
from gateway.reports.formats import customer_text, report_csv, report_json
from gateway.reports.gather import month_facts
from gateway.reports.statement import CustomerStatement, Month, MonthReport, month_report
from gateway.store import sent_once
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import Ticket


def admins(config: Config) -> list[Agent]:
    return [agent for agent in config.agents if "admin-agent" in agent.roles]


def tell_usage(
    batch: Batch, config: Config, templates: Templates, customer_id: str, now: datetime
) -> int:
    """After a time entry: each usage level reached for the first time goes to the
    admin-agents, and to the customer's contact where the plan says so."""
    customer = config.customer(customer_id)
    if customer is None:
        return 0
    plan = plan_for(config)(customer_id)
    told = 0
    for usage in time_entries.usage_reached(batch.session, customer_id, plan, now):
        readers = [(a.address, a.language, False) for a in admins(config)]
        if plan.balance_notices and customer.contact:
            readers.append((customer.contact, customer.language, True))
        for address, language, to_customer in readers:
            mail = plan_mails.usage_notice(
                config, templates, address, language, customer, plan, usage, to_customer
            )
            outbox.enqueue(batch, mail, ticket_id=None)
            told += 1
    return told


def run_clock_alerts(session: Session, config: Config, templates: Templates, now: datetime) -> int:
    """Reminders to the ticket's agents, breach notices to the admin-agents; each once."""
    batch = Batch.immediate(session)
    alerts = plan_timers.clock_alerts(session, plan_for(config), now)
    for alert in alerts:
        ticket, plan = alert.ticket, plan_for(config)(alert.ticket.customer_id)
        if alert.breach:
            for agent in admins(config):
                mail = plan_mails.sla_breach(config, templates, ticket, agent, alert, plan)
                outbox.enqueue(batch, mail, ticket_id=ticket.id)
            what = "sla_breached"
        else:
            for agent in _ticket_agents(config, ticket):
                mail = plan_mails.sla_reminder(config, templates, ticket, agent, alert, plan)
                outbox.send_for_ticket(batch, ticket, mail)
            what = "reminded"
        tickets.add_event(batch, ticket, what, clock=alert.clock, due=alert.due.isoformat())
    return len(alerts)


def _ticket_agents(config: Config, ticket: Ticket) -> list[Agent]:
    """The agents of its queue, and its assignee (who may work in another queue)."""
    found = agents_to_notify(ticket.customer_id, ticket.queue, config)
    assignee = next((a for a in config.agents if a.address == ticket.assignee), None)
    if assignee and assignee not in found:
        found.append(assignee)
    return found


def run_digest(store: Store, config: Config, templates: Templates, now: datetime) -> int:
    """Today's digest, once, at the start of the default plan's service hours."""
    if not config.support.digest:
        return 0
    calendar = config.plans.get(None).calendar
    day = plan_timers.digest_day(calendar, now)
    if day is None:
        return 0
    with store.reader() as session:  # every minute of the day: without taking a write lock
        if sent_once.claimed(session, f"digest:{day}"):
            return 0
    with store.session() as session:
        if not sent_once.claim(session, f"digest:{day}"):
            return 0
        found = plan_timers.digests(session, config.agents, plan_for(config), calendar, now)
        for digest in found:
            mail = plan_mails.digest(config, templates, digest, day)
            outbox.enqueue(Batch.immediate(session), mail, ticket_id=None)
    return len(found)


def run_statements(store: Store, config: Config, templates: Templates, now: datetime) -> int:
    """Last month's statements, once, from the first working day of this month on: to each
    customer whose plan says so, and a summary with all of them to the admin-agents. Only
    with [[plans]] written: without, there is nothing to charge or promise."""
    if not config.plans.written:
        return 0
    month = plan_timers.statements_month(config.plans.get(None).calendar, now)
    if month is None:
        return 0
    key = f"statements:{month}"
    with store.reader() as session:
        if sent_once.claimed(session, key):
            return 0
    report = build_report(store, config, month, now, customer=None)
    mails = _statement_mails(config, templates, report)  # charts drawn outside the transaction
    with store.session() as session:
        if not sent_once.claim(session, key):
            return 0
        batch = Batch.immediate(session)
        for mail in mails:
            outbox.enqueue(batch, mail, ticket_id=None)
    return len(mails)


def _statement_mails(
    config: Config, templates: Templates, report: MonthReport
) -> list[sender.OutgoingMail]:
    from gateway.reports.html import report_html

    month, mails, mailed = str(report.month), [], {}
    for statement in report.customers:
        customer = config.customer(statement.customer)
        if customer and customer.contact and statement.plan.statements:
            language = customer.language
            single = MonthReport(report.month, (statement,))
            # The customer's own: no agent's address, no note (an agent's words, maybe internal).
            text = customer_text(statement, month, templates, language, internal=False)
            folder = config.templates_folder
            page = report_html(single, config.partner.name, language, folder, internal=False)
            mails.append(plan_mails.statement(config, templates, customer, month, text, page))
            mailed[customer.id] = customer.contact
    figures = report_json(report)["customers"]
    csv_text = report_csv(report)
    for agent in admins(config) if report.customers else []:
        page = report_html(report, config.partner.name, agent.language, config.templates_folder)
        summary = plan_mails.statements_summary(
            config, templates, agent, month, figures, mailed, page, csv_text
        )
        mails.append(summary)
    return mails


def build_report(
    store: Store, config: Config, month: Month, now: datetime, customer: str | None
) -> MonthReport:
    """The month's report: one customer, or every customer with something in the month or
    hours to account for."""
    chosen = [c for c in config.customers if customer in (None, c.id)]
    pairs = [(c, plan_for(config)(c.id)) for c in chosen]
    with store.reader() as session:
        facts = month_facts(session, pairs, month, now, config.microsoft.escalation_address)
    report = month_report(month, facts)
    if customer is None:
        report = MonthReport(month, tuple(s for s in report.customers if _worth_telling(s)))
    return report


def _worth_telling(statement: CustomerStatement) -> bool:
    facts, plan = statement.facts, statement.plan
    busy = facts.opened or facts.closed or facts.outcomes or facts.time
    return bool(busy) or plan.included_hours > 0 or plan.prepaid_hours > 0
