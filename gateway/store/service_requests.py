"""The queue of Partner Center calls: the `service_requests` rows (one per escalation) and the
`service_request_notes` rows (the agents' #upstream notes). All SQL on the two tables is here;
what is done with the rows is gateway/delivery/service_requests.py's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.engine import Store
from gateway.store.models import ServiceRequestNote, ServiceRequestRow, ServiceRequestState, utcnow

Row = TypeVar("Row", ServiceRequestRow, ServiceRequestNote)


def due(
    store: Store, model: type[ServiceRequestRow] | type[ServiceRequestNote], limit: int
) -> list[int]:
    """The ids of the rows whose next call is due, the longest waiting first."""
    with store.reader() as session:
        return list(
            session.scalars(
                select(model.id)
                .where(
                    model.state == ServiceRequestState.PENDING,
                    model.next_attempt_at <= utcnow(),
                )
                .order_by(model.next_attempt_at, model.id)
                .limit(limit)
            )
        )


def claimed(session: Session, model: type[Row], row_id: int, lock: bool) -> Row | None:
    """The row if it is still pending; on PostgreSQL locked for this daemon's call (FOR UPDATE
    SKIP LOCKED: the other daemons pass it by, and a dead daemon's lock goes with it)."""
    statement = select(model).where(model.id == row_id, model.state == ServiceRequestState.PENDING)
    return session.scalar(statement.with_for_update(skip_locked=True) if lock else statement)


def for_ticket(session: Session, ticket_id: int) -> ServiceRequestRow | None:
    """The ticket's latest service request, if it has one."""
    return session.scalar(
        select(ServiceRequestRow)
        .where(ServiceRequestRow.ticket_id == ticket_id)
        .order_by(ServiceRequestRow.id.desc())
        .limit(1)
    )


def pending_notes(session: Session, row_id: int) -> Sequence[ServiceRequestNote]:
    """The #upstream notes of a service request that still wait for their call."""
    waiting = select(ServiceRequestNote).where(
        ServiceRequestNote.service_request_id == row_id,
        ServiceRequestNote.state == ServiceRequestState.PENDING,
    )
    return session.scalars(waiting).all()


def open_ids(store: Store) -> list[int]:
    """The service requests that Microsoft has not closed: the ones followed."""
    with store.reader() as session:
        return list(
            session.scalars(
                select(ServiceRequestRow.id).where(
                    ServiceRequestRow.state == ServiceRequestState.OPEN
                )
            )
        )
