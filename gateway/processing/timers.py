"""Ticket timers run by the scheduler: tickets left waiting on the customer are closed after
`support.close_waiting_after`, and the agents of a ticket still unanswered when its
`support.first_response` target is near are reminded once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.config import Config
from gateway.delivery import outbox, sender
from gateway.delivery.templates import Templates
from gateway.processing import tickets
from gateway.processing.identity import agents_to_notify
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.locks import AdvisoryLock
from gateway.store.models import Event, Ticket, TicketMessage, TicketStatus, utcnow

REMIND_BEFORE = 0.25  # remind when a quarter of the first-response time is left


def run_ticket_timers(
    store: Store, lock: AdvisoryLock, config: Config, templates: Templates
) -> tuple[int, int] | None:
    """Both timers, (closed, reminded), in the one daemon that holds `lock` among those sharing
    a PostgreSQL database; None in the others, which would otherwise remind twice."""
    if not lock.acquire():
        return None
    return close_waiting(store, config), remind_first_response(store, config, templates)


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


def remind_first_response(store: Store, config: Config, templates: Templates) -> int:
    """One reminder per ticket to its agents when the first-response target comes near and no
    agent has answered yet. Counted in wall-clock time from arrival (a simplification: the
    target is stated in service hours, so this reminds early rather than late)."""
    target = config.support.first_response
    due = utcnow() - target + timedelta(seconds=target.total_seconds() * REMIND_BEFORE)
    reminded = 0
    with store.session() as session:
        batch = Batch.immediate(session)
        for ticket in session.scalars(
            select(Ticket).where(Ticket.status == TicketStatus.NEW, Ticket.created_at <= due)
        ).all():
            if _reminded_or_answered(session, ticket):
                continue
            deadline = ticket.created_at + target
            for agent in agents_to_notify(ticket.customer_id, ticket.queue, config):
                mail = sender.reminder(config, templates, ticket, agent, deadline)
                outbox.send_for_ticket(batch, ticket, mail)
            tickets.add_event(batch, ticket, "reminded", deadline=_iso(deadline))
            reminded += 1
    return reminded


def _reminded_or_answered(session: Session, ticket: Ticket) -> bool:
    reminded = session.scalar(
        select(Event.id).where(Event.ticket_id == ticket.id, Event.what == "reminded").limit(1)
    )
    answered = session.scalar(
        select(TicketMessage.id)
        .where(TicketMessage.ticket_id == ticket.id, TicketMessage.kind == "agent")
        .limit(1)
    )
    return reminded is not None or answered is not None


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")
