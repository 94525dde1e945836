"""Ticket timers run by the scheduler: tickets left waiting on the customer are closed after
`support.close_waiting_after`; the SLA clocks of each ticket's plan remind its agents when a
quarter of a target is left and tell the admin-agents of a breach, once each; the agents' daily
digest goes out at the start of service hours and last month's statements on the first working
day (gateway/processing/plan_notices.py)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select

from gateway.config import Config
from gateway.delivery.templates import Templates
from gateway.processing import plan_notices, tickets
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.locks import AdvisoryLock
from gateway.store.models import Ticket, TicketStatus, utcnow


class TimerCounts(NamedTuple):
    closed: int
    reminded: int  # SLA reminders and breach notices
    digests: int
    statements: int


def run_ticket_timers(
    store: Store, lock: AdvisoryLock, config: Config, templates: Templates
) -> TimerCounts | None:
    """The timers in the one daemon that holds `lock` among those sharing a PostgreSQL
    database; None in the others, which would otherwise remind twice. (The digest and the
    statements are also made once by their sent_once keys, should the lock change hands.)"""
    if not lock.acquire():
        return None
    now = utcnow()
    return TimerCounts(
        close_waiting(store, config),
        sla_alerts(store, config, templates, now),
        plan_notices.run_digest(store, config, templates, now),
        plan_notices.run_statements(store, config, templates, now),
    )


def close_waiting(store: Store, config: Config) -> int:
    """Close tickets that waited on the customer longer than close_waiting_after."""
    cutoff = utcnow() - config.support.close_waiting_after
    with store.session() as session:
        batch = Batch.immediate(session)
        waiting = session.scalars(
            select(Ticket).where(
                Ticket.status == TicketStatus.WAITING_CUSTOMER, Ticket.updated_at < cutoff
            )
        ).all()
        for ticket in waiting:
            tickets.set_status(batch, ticket, TicketStatus.CLOSED, "no answer from the customer")
            ticket.updated_at = utcnow()
    return len(waiting)


def sla_alerts(store: Store, config: Config, templates: Templates, now: datetime) -> int:
    """SLA reminders (a quarter of a target left, in the plan's service time) to the ticket's
    agents and breach notices to the admin-agents, each once per ticket and clock."""
    with store.session() as session:
        return plan_notices.run_clock_alerts(session, config, templates, now)
