"""Hand-overs: a ticket escalated to Microsoft or the indirect provider, or forwarded to a
support party, by a routing rule or an agent's command. Their replies come back through the
ticket's signed upstream Reply-To and go to the agents only."""

from __future__ import annotations

from sqlalchemy import select

from gateway.config import Config
from gateway.delivery import outbox, sender
from gateway.delivery.templates import Templates
from gateway.processing import tickets
from gateway.store.batch import Batch
from gateway.store.models import RawMessage, Ticket, TicketMessage, TicketStatus
from parsers.payloads import attached_files
from routing import directory


def party_address(config: Config, party_id: str) -> str | None:
    return directory.party_address(party_id, config.parties)


def escalation_address(config: Config, customer_id: str | None) -> str | None:
    """Microsoft for a direct-bill customer, the indirect provider for an indirect one."""
    return directory.escalation_address(config.customer(customer_id), config.directory)


def hand_over(
    batch: Batch,
    config: Config,
    templates: Templates,
    ticket: Ticket,
    to: str,
    purpose: str,
    category: str,
) -> None:
    """Send the ticket upstream with the customer's first text and files; it then waits."""
    first = batch.scalar(
        select(TicketMessage)
        .where(TicketMessage.ticket_id == ticket.id, TicketMessage.kind == "customer")
        .order_by(TicketMessage.id)
        .limit(1)
    )
    raw = batch.get(RawMessage, first.raw_message_id) if first and first.raw_message_id else None
    files = attached_files(raw.data) if raw else []
    customer = config.customer(ticket.customer_id)
    text = first.text if first else ""
    mail = sender.handover(config, templates, ticket, customer, to, purpose, category, text, files)
    outbox.send_for_ticket(batch, ticket, mail)
    tickets.set_status(batch, ticket, TicketStatus.WAITING_UPSTREAM, purpose)
    what = "escalated" if purpose == "escalation" else "forwarded"
    tickets.add_event(batch, ticket, what, to=to, category=category or None)
