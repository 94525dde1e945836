"""Following the open Partner Center service requests: every `microsoft.poll` each is read; a
status change and Microsoft's new notes become upstream messages on the ticket, for its agents
only, and move the ticket as an upstream reply does (routing/service_requests.py decides)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from gateway.config import Config
from gateway.delivery import outbox, sender
from gateway.delivery.templates import Templates
from gateway.logs import log_event
from gateway.microsoft.api import ApiError, PermanentApiError, SignInRefused
from gateway.microsoft.partner_center import PartnerCenter, ServiceRequest
from gateway.processing import tickets
from gateway.processing.identity import agents_to_notify
from gateway.store import service_requests as queue
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import (
    ServiceRequestRow,
    ServiceRequestState,
    Ticket,
    TicketStatus,
    utcnow,
)
from parsers.message import ParsedMessage
from routing.service_requests import RequestNote, news

log = logging.getLogger("gateway.delivery.service_requests")


def _log_poll_failure(what: str, error: str) -> None:
    log_event(log, "service_request.poll_failed", level=logging.WARNING, what=what, error=error)


def poll_open(
    store: Store,
    config: Config,
    templates: Templates,
    partner_center: PartnerCenter,
    failed: Callable[[str, str], None] = _log_poll_failure,
    recovered: Callable[[str], None] = lambda what: None,
) -> int:
    """Read every open service request; how many brought news for the agents. A request that
    cannot be read is tried again at the next poll; Partner Center out of reach is one
    problem, not one per request (`failed`)."""
    told = 0
    for row_id in queue.open_ids(store):
        with store.reader() as session:
            request_id = session.get_one(ServiceRequestRow, row_id).request_id
        try:
            current = partner_center.get(str(request_id))
        except SignInRefused:
            raise
        except PermanentApiError as exc:  # this one (gone, say): the others are still read
            failed(f"service-request:{request_id}", str(exc))
            continue
        except ApiError as exc:
            failed("service-requests", str(exc))
            return told  # Partner Center out of reach: the others would fail alike
        recovered("service-requests")
        with store.session() as session:
            told += _follow(session, config, templates, row_id, current)
    return told


def _follow(
    session: Session, config: Config, templates: Templates, row_id: int, current: ServiceRequest
) -> int:
    batch = Batch.immediate(session)  # its rows written at once
    row = session.get_one(ServiceRequestRow, row_id)
    notes = [RequestNote(n.by, n.at, n.text) for n in current.notes]
    found = news(current.id, row.status, current.status, notes, row.notes_seen, set(row.our_notes))
    row.status, row.notes_seen, row.polled_at = current.status, len(notes), utcnow()
    if current.status == "closed":
        row.state = ServiceRequestState.CLOSED
    if not found.texts:
        return 0
    ticket = session.get_one(Ticket, row.ticket_id)
    for text in found.texts:
        _upstream_message(session, config, templates, ticket, current, text)
    wanted = found.progress.ticket_status
    if wanted == TicketStatus.OPEN and ticket.status == TicketStatus.WAITING_UPSTREAM:
        tickets.set_status(batch, ticket, TicketStatus.OPEN, "Microsoft wrote")
    tickets.add_event(batch, ticket, "service_request", id=current.id, status=current.status)
    return 1


MICROSOFT = "Microsoft (Partner Center)"


def _upstream_message(
    session: Session,
    config: Config,
    templates: Templates,
    ticket: Ticket,
    current: ServiceRequest,
    text: str,
) -> None:
    """On the ticket as an upstream message, and to the ticket's agents only: never to the
    customer (the agents decide what the customer is told)."""
    batch = Batch.immediate(session)  # its rows written at once
    subject = f"Service request {current.id}: {current.title}"
    tickets.add_message(
        batch,
        ticket,
        direction="in",
        kind="upstream",
        from_addr=MICROSOFT,
        to=[config.partner.address],
        subject=subject,
        message_id=None,
        text=text,
    )
    message = ParsedMessage(
        from_addr=MICROSOFT,
        from_name="Microsoft",
        to=(config.partner.address,),
        cc=(),
        reply_to=(),
        subject=subject,
        message_id=None,
        in_reply_to=None,
        references=(),
        date=utcnow(),
        kind="normal",
        text=text,
        full_text=text,
    )
    customer = config.customer(ticket.customer_id)
    agents = agents_to_notify(ticket.customer_id, ticket.queue, config)
    unserved = not agents
    if unserved:  # as processor._notify_agents: the admin-agents hear of it instead
        agents = [agent for agent in config.agents if "admin-agent" in agent.roles]
    for agent in agents:
        mail = sender.agent_notification(
            config, templates, ticket, message, customer, agent, followup=True, unserved=unserved
        )
        outbox.send_for_ticket(batch, ticket, mail)
    if agents:
        tickets.add_event(batch, ticket, "notified", agents=[a.address for a in agents])
