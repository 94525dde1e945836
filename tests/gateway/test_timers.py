"""gateway/processing/timers.py on a real SQLite store: closing waiting tickets, one reminder per
ticket (the SLA clocks themselves: tests/gateway/test_plan_records.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from gateway.config import Config
from gateway.delivery.templates import Templates
from gateway.processing import tickets, timers
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import OutboxMessage, Ticket, utcnow
from routing import Decision

HANDLE = Decision("handle", "helpdesk", "helpdesk", None)


def make_ticket(store: Store, status: str, age: timedelta) -> int:
    with store.session() as session:
        ticket = tickets.open_ticket(
            Batch.immediate(session), "Printer", "anna@fabrikam.example", "fabrikam", HANDLE
        )
        ticket.status = status
        ticket.created_at = ticket.updated_at = utcnow() - age
        return ticket.number


def status_of(store: Store, number: int) -> str:
    with store.session() as session:
        return str(session.scalars(select(Ticket.status).where(Ticket.number == number)).one())


def test_tickets_waiting_too_long_are_closed(store: Store, config: Config) -> None:
    old = make_ticket(store, "waiting_customer", config.support.close_waiting_after * 2)
    recent = make_ticket(store, "waiting_customer", timedelta(hours=1))
    other = make_ticket(store, "open", config.support.close_waiting_after * 2)

    assert timers.close_waiting(store, config) == 1
    assert [status_of(store, n) for n in (old, recent, other)] == [
        "closed",
        "waiting_customer",
        "open",
    ]


def test_first_response_reminder_goes_out_once(
    store: Store, config_data: dict[str, Any], make_config: Callable[[dict[str, Any]], Config]
) -> None:
    """Without [[plans]], the default plan is [support]: here always open, so a quarter of the
    4 h target is left after 3 h."""
    config = make_config({**config_data, "support": {"first_response": "4h", "hours": "24x7"}})
    late = make_ticket(store, "new", config.support.first_response * 0.9)
    make_ticket(store, "new", timedelta(minutes=1))

    assert timers.sla_alerts(store, config, Templates(), utcnow()) == 1
    assert timers.sla_alerts(store, config, Templates(), utcnow()) == 0
    with store.session() as session:
        purposes = session.scalars(select(OutboxMessage.purpose)).all()
    assert purposes and set(purposes) == {"reminder"}
    assert status_of(store, late) == "new"
