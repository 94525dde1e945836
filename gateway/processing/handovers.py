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
from routing.service_requests import draft as service_requests_draft


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
    """Send the ticket upstream; it then waits. An escalation to Microsoft becomes a Partner
    Center service request with `microsoft.escalation = "partner_center"`, else a mail."""
    customer = config.customer(ticket.customer_id)
    to_microsoft = (
        directory.escalates_to_microsoft(customer) and to == config.microsoft.escalation_address
    )
    partner_center = config.microsoft.escalation == "partner_center"
    if purpose == "escalation" and partner_center and to_microsoft:
        filed = _file_service_request(batch, config, ticket, category)
        if filed:
            return
    mail_handover(batch, config, templates, ticket, to, purpose, category)


def _file_service_request(batch: Batch, config: Config, ticket: Ticket, category: str) -> bool:
    """Queue the service request; False when no support topic fits the category (and no "*"
    default is mapped), so that the escalation goes by mail as before."""
    from gateway.delivery import service_requests

    customer = config.customer(ticket.customer_id)
    draft = service_requests_draft(
        tag=sender.ticket_tag(config, ticket.number),
        subject=ticket.subject,
        customer=customer.name if customer else ticket.requester,
        tenant=customer.tenant if customer else "",
        category=category,
        priority=ticket.priority,
        text=_first_text(batch, ticket),
        topics=dict(config.microsoft.support_topics),
    )
    if draft.support_topic_id is None:
        why = f'no microsoft.support_topics entry for {category!r} and no "*"'
        tickets.add_event(batch, ticket, "service_request_impossible", reason=why)
        return False
    service_requests.enqueue(
        batch, ticket, sender.ticket_tag(config, ticket.number), draft, category
    )
    tickets.set_status(batch, ticket, TicketStatus.WAITING_UPSTREAM, "escalation")
    tickets.add_event(batch, ticket, "escalated", to="partner_center", category=category or None)
    return True


def _first_text(batch: Batch, ticket: Ticket) -> str:
    first = batch.scalar(
        select(TicketMessage.text)
        .where(TicketMessage.ticket_id == ticket.id, TicketMessage.kind == "customer")
        .order_by(TicketMessage.id)
        .limit(1)
    )
    return str(first or "")


def mail_handover(
    batch: Batch,
    config: Config,
    templates: Templates,
    ticket: Ticket,
    to: str,
    purpose: str,
    category: str,
) -> None:
    """Send the ticket upstream by mail with the customer's first text and files."""
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
