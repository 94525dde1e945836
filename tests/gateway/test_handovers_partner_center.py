"""An escalation with `microsoft.escalation = "partner_center"`: a direct-bill customer's is
queued as a service request in the ticket's transaction, an indirect one's still goes to its
provider by mail, and a category without a support topic goes by mail as before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.config import Config
from gateway.delivery.templates import Templates
from gateway.processing import processor
from gateway.store.engine import Store
from gateway.store.models import OutboxMessage, ServiceRequestRow, Ticket
from gateway.store.raw_messages import IncomingRaw


def escalating(config_data: dict[str, Any], topics: dict[str, str]) -> dict[str, Any]:
    config_data["microsoft"] |= {
        "escalation": "partner_center",
        "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "0b9a6d3e",
        "client_secret": "s3cret",
        "support_topics": topics,
    }
    config_data["rules"].append(
        {
            "name": "Outages go up",
            "when": {"words": ["outage"]},
            "then": {"action": "escalate", "category": "Service unavailable", "priority": "high"},
        }
    )
    return config_data


def escalate(store: Store, config: Config, sender: str) -> dict[str, Any]:
    data = (
        f"From: {sender}\r\nTo: support@contoso.example\r\nSubject: Teams outage\r\n"
        f"Message-ID: <{sender}>\r\n\r\nTeams is down for all of us.\r\n"
    ).encode()
    store.insert_raw([IncomingRaw(data=data, via="smtp", mail_from=sender)])
    assert processor.process_pending(store, processor.Context(config, Templates())) == 1
    with store.reader() as session:
        ticket = session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
        assert ticket is not None
        rows = session.scalars(select(ServiceRequestRow)).all()
        return {
            "status": ticket.status,
            "requests": [(r.title, r.severity, r.support_topic_id, r.state) for r in rows],
            "mail": sorted(m.purpose for m in session.scalars(select(OutboxMessage))),
        }


def test_a_direct_customers_escalation_is_queued_not_mailed(
    make_config: Any, config_data: dict[str, Any], store: Store
) -> None:
    config = make_config(escalating(config_data, {"Service unavailable": "32569836"}))
    result = escalate(store, config, "anna@fabrikam.example")
    assert result["status"] == "waiting_upstream"
    assert result["requests"] == [
        ("[CONTOSO#1] Service unavailable: Teams outage", "moderate", "32569836", "pending")
    ]
    assert "escalation" not in result["mail"]  # no mail to escalation_address


def test_an_indirect_customers_escalation_goes_to_its_provider(
    make_config: Any, config_data: dict[str, Any], store: Store
) -> None:
    config = make_config(escalating(config_data, {"*": "32444667"}))
    result = escalate(store, config, "it@adatum.example")
    assert result["requests"] == []
    assert "escalation" in result["mail"]


def test_a_category_without_a_topic_goes_by_mail(
    make_config: Any, config_data: dict[str, Any], store: Store
) -> None:
    config = make_config(escalating(config_data, {"Bug": "1"}))
    result = escalate(store, config, "anna@fabrikam.example")
    assert result["requests"] == []
    assert "escalation" in result["mail"]
