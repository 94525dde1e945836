"""gateway/delivery/service_requests.py on SQLite against the Partner Center stand-in: filed,
followed, noted, and given up on by e-mail, with the notes that were waiting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.config import Config
from gateway.delivery import service_request_news, service_requests
from gateway.delivery.templates import Templates
from gateway.microsoft.clients import partner_center
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import Event, OutboxMessage, Ticket, TicketMessage
from tests.e2e.microsoft_standin import CLIENT_ID, CLIENT_SECRET, PARTNER_TENANT, MicrosoftStandIn
from tests.gateway.test_handovers_partner_center import escalate, escalating
from tests.gateway.test_partner_center import partner_center_for


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[MicrosoftStandIn]:
    server = MicrosoftStandIn(tmp_path / "standin")
    server.start()
    yield server
    server.close()


@pytest.fixture
def config(
    standin: MicrosoftStandIn, tmp_path: Path, make_config: Any, config_data: dict[str, Any]
) -> Config:
    partner_center_for(standin, tmp_path, timeout=5.0)  # tmp_path/token.json
    data = escalating(config_data, {"*": "32569836"})
    data["microsoft"] |= {
        "tenant_id": PARTNER_TENANT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_file": "token.json",
        "authority": standin.url,
        "partner_center_url": standin.partner_center_url,
        "ca_file": str(standin.ca_file),
        "timeout": "2s",
        "retry_initial": "1s",
        "give_up_after": "1h",
    }
    result: Config = make_config(data)
    return result


def deliver(store: Store, config: Config, told: list[Any] | None = None) -> int:
    return service_requests.deliver_due(
        store,
        config,
        Templates(),
        partner_center(config.microsoft),
        lambda *notice: (told if told is not None else []).append(notice),
    )


def events(store: Store) -> list[str]:
    with store.reader() as session:
        return [e.what for e in session.scalars(select(Event).order_by(Event.id))]


def test_filed_followed_and_noted(config: Config, store: Store, standin: MicrosoftStandIn) -> None:
    escalate(store, config, "anna@fabrikam.example")
    assert deliver(store, config) == 1
    (request_id,) = standin.service_requests
    with store.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert service_requests.queue_note(
            Batch.immediate(session), ticket, "priya@contoso.example", "A trace."
        )
    assert deliver(store, config) == 1
    assert [n["text"] for n in standin.service_requests[request_id]["notes"]] == ["A trace."]

    standin.add_note(request_id, "Fixed.")
    standin.set_status(request_id, "closed")
    pc = partner_center(config.microsoft)
    assert service_request_news.poll_open(store, config, Templates(), pc) == 1
    assert service_request_news.poll_open(store, config, Templates(), pc) == 0  # closed: not read
    with store.reader() as session:
        ticket = session.scalars(select(Ticket)).one()
        upstream = session.scalars(
            select(TicketMessage.text).where(TicketMessage.kind == "upstream")
        ).all()
        notified = session.scalars(
            select(OutboxMessage.recipients).where(OutboxMessage.purpose == "notification")
        ).all()
    assert ticket.status == "open"
    assert upstream == [
        f"Service request {request_id} is now closed by Microsoft.",
        f"Note from Microsoft Support on service request {request_id} "
        f"({standin.service_requests[request_id]['notes'][1]['createdDate']}):\n\nFixed.",
    ]  # not our own note
    assert ["anna@fabrikam.example"] not in notified  # the agents only


def test_given_up_on_by_e_mail_with_the_notes_that_waited(
    config: Config, store: Store, standin: MicrosoftStandIn
) -> None:
    escalate(store, config, "anna@fabrikam.example")
    with store.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert service_requests.queue_note(
            Batch.immediate(session), ticket, "priya@contoso.example", "More."
        )
    standin.stop()
    told: list[Any] = []
    assert deliver(store, config, told) == 1  # a retry, in a second
    assert "service_request_failed" not in events(store)
    config = replace(config, microsoft=replace(config.microsoft, give_up_after=timedelta(0)))
    time.sleep(1.1)  # the retry is due
    deliver(store, config, told)
    assert "service_request_failed" in events(store)
    assert "upstream_note_failed" in events(store)
    assert [notice[0].split(":")[0] for notice in told] == ["service-request-failed"]
    with store.reader() as session:
        mail = session.scalars(select(OutboxMessage.recipients)).all()
    assert ["escalations@contoso.example"] in mail  # the e-mail escalation of before
