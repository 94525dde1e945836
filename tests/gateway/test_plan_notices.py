"""gateway/processing/plan_notices.py on a real SQLite store: the statements and the digest
queued once, the usage notices to the admin-agents and (where the plan says) the customer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from gateway.config import Config
from gateway.delivery.templates import Templates
from gateway.processing import plan_notices, tickets, time_entries
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import OutboxMessage
from routing import Decision
from routing.billing import TimeEntry

HANDLE = Decision("handle", "helpdesk", "helpdesk", None)
PLAN = {
    "id": "standard",
    "hours": "Mon-Fri 08:00-18:00",
    "timezone": "Europe/Amsterdam",
    "holidays": "NL",
    "first_response": {"normal": "4h"},
    "rate": 100.0,
    "included_hours": 1,
    "rounding": "15m",
    "statements": True,
    "balance_notices": True,
}


@pytest.fixture
def planned(config_data: dict[str, Any], make_config: Callable[[dict[str, Any]], Config]) -> Config:
    fabrikam = {**config_data["customers"][0], "contact": "it@fabrikam.example"}
    return make_config(
        {
            **config_data,
            "support": {**config_data["support"], "plan": "standard"},
            "customers": [fabrikam, *config_data["customers"][1:]],
            "plans": [PLAN],
        }
    )


def mail(store: Store) -> list[tuple[str, tuple[str, ...]]]:
    with store.reader() as session:
        rows = session.execute(select(OutboxMessage.purpose, OutboxMessage.recipients)).all()
    return sorted((purpose, tuple(to)) for purpose, to in rows)


def spend(store: Store, when: datetime, minutes: int) -> None:
    with store.session() as session:
        ticket = tickets.open_ticket(
            Batch.immediate(session), "Printer", "anna@fabrikam.example", "fabrikam", HANDLE
        )
        ticket.created_at = ticket.updated_at = when
        time_entries.record(
            session, ticket, "jan@contoso.example", TimeEntry(minutes, True, ""), when
        )


def test_the_statements_of_october_go_out_once_on_monday_2_november(
    store: Store, planned: Config
) -> None:
    spend(store, datetime(2026, 10, 20, 10, tzinfo=UTC), 50)
    sunday, monday = datetime(2026, 11, 1, 12, tzinfo=UTC), datetime(2026, 11, 2, 7, 1, tzinfo=UTC)
    assert plan_notices.run_statements(store, planned, Templates(), sunday) == 0
    assert plan_notices.run_statements(store, planned, Templates(), monday) == 2
    assert plan_notices.run_statements(store, planned, Templates(), monday) == 0
    assert mail(store) == [
        ("statement", ("it@fabrikam.example",)),
        ("statements", ("priya@contoso.example",)),
    ]


def test_without_plans_there_are_no_statements(store: Store, config: Config) -> None:
    spend(store, datetime(2026, 10, 20, 10, tzinfo=UTC), 50)
    assert (
        plan_notices.run_statements(
            store, config, Templates(), datetime(2026, 11, 2, 9, tzinfo=UTC)
        )
        == 0
    )


def test_the_digest_once_a_day_to_agents_with_tickets(store: Store, planned: Config) -> None:
    spend(store, datetime(2026, 11, 2, 8, tzinfo=UTC), 10)
    opening = datetime(2026, 11, 3, 7, 0, 1, tzinfo=UTC)  # 08:00 in Amsterdam
    assert plan_notices.run_digest(store, planned, Templates(), opening) == 2  # Jan and Priya
    assert plan_notices.run_digest(store, planned, Templates(), opening) == 0
    assert [purpose for purpose, _ in mail(store)] == ["digest", "digest"]


def test_usage_notices_go_to_the_admins_and_the_customer(store: Store, planned: Config) -> None:
    when = datetime(2026, 11, 3, 9, tzinfo=UTC)
    spend(store, when, 50)  # rounded to 60: 100 % of the included hour
    with store.session() as session:
        assert (
            plan_notices.tell_usage(
                Batch.immediate(session), planned, Templates(), "fabrikam", when
            )
            == 4
        )
    with store.session() as session:
        assert (
            plan_notices.tell_usage(
                Batch.immediate(session), planned, Templates(), "fabrikam", when
            )
            == 0
        )
    assert mail(store) == [
        ("usage", ("it@fabrikam.example",)),
        ("usage", ("it@fabrikam.example",)),
        ("usage", ("priya@contoso.example",)),
        ("usage", ("priya@contoso.example",)),
    ]
