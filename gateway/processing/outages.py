"""Outage clustering: when several customers write about one problem within
`[escalation] cluster_window`, their tickets are linked to one incident and the problem goes
upstream once, not once per customer.

- Escalations (by a rule) that share category and upstream address: the first is sent at
  once; later ones in the window are linked to it and send nothing.
- Requests that match the same known issue are not escalated one by one (the issue is already
  documented); once `cluster_after` customers are affected, one escalation tells the upstream
  how many customers are hit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from gateway.config import Config
from gateway.processing import tickets
from gateway.store.batch import Batch
from gateway.store.models import OutageCluster, Ticket, TicketStatus


def join_incident(
    batch: Batch, config: Config, key: str, ticket: Ticket, now: datetime
) -> OutageCluster:
    """The open incident for `key` within the window (made if none), with the ticket linked."""
    incident = batch.scalar(
        select(OutageCluster)
        .where(OutageCluster.key == key, OutageCluster.last_at >= now - config.cluster_window)
        .order_by(OutageCluster.id.desc())
        .limit(1)
    )
    if incident is None:
        incident = OutageCluster(key=key, opened_at=now, last_at=now, customers=[])
        batch.session.add(incident)
        batch.session.flush()
    who = ticket.customer_id or ticket.requester
    if who not in incident.customers:
        incident.customers = [*incident.customers, who]
    incident.last_at = now
    ticket.incident_id = incident.id
    tickets.add_event(
        batch, ticket, "incident", incident=incident.id, customers=len(incident.customers)
    )
    return incident


def link_to_escalation(batch: Batch, ticket: Ticket, incident: OutageCluster) -> None:
    """The incident already went upstream: this ticket waits for the same answer."""
    tickets.set_status(
        batch, ticket, TicketStatus.WAITING_UPSTREAM, "linked to an escalated incident"
    )
    tickets.add_event(
        batch, ticket, "linked", incident=incident.id, escalated_with=incident.escalated_ticket
    )
