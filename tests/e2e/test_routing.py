"""Routing end to end: rules escalate to Microsoft or the indirect provider, forward to a party,
reply to direct-Microsoft customers, and known incidents reach the acknowledgement."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Gateway, Sink, mail, wait_for

RULES = """
[[known_issues]]
id = "EX123456"
service = "Exchange Online"
title = "Some users can't send mail from Outlook"
status = "investigating"
words = ["exchange", "outlook", "send"]

[service_health]
file = "service-health.json"

[escalation]
cluster_after = 2
cluster_window = "30m"

[[rules]]
name = "Known incident"
when = { known_issue = true }
then = { action = "handle" }

[[rules]]
name = "Outage"
when = { words = ["outage", "storing"] }
then = { action = "escalate", category = "Large network outage", priority = "urgent" }

[[rules]]
name = "Printers to Northwind"
when = { words = ["printer"] }
then = { action = "forward", party = "northwind" }

[[rules]]
name = "Non-CSP"
when = { direct_microsoft = true, words = ["xbox"] }
then = { action = "handle", reply = "direct_microsoft" }
"""
MICROSOFT = "escalations@microsoft.example"
NORTHWIND = "csp-support@northwind.example"


@pytest.fixture
def routed(tmp_path: Path, sink: Sink) -> Iterator[Gateway]:
    daemon = Gateway(tmp_path, sink, RULES)
    daemon.start()
    yield daemon
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.log_text()


def test_direct_customer_outage_escalates_to_microsoft_and_the_reply_goes_to_agents(
    routed: Gateway, sink: Sink
) -> None:
    routed.send(mail(subject="Storing: niemand kan mailen", body="Sinds 9 uur een storing."))
    (ticket,) = routed.wait_for_tickets(1)
    assert ticket["route"] == {"action": "escalate", "target": "microsoft", "rule": "Outage"}
    assert ticket["priority"] == "urgent"
    (escalation,) = sink.wait_for_mail(MICROSOFT)
    assert escalation.message["Subject"] == (
        "[CONTOSO#1] Large network outage: Storing: niemand kan mailen"
    )
    content = escalation.message.get_content()
    assert "fabrikam.onmicrosoft.com" in content and "Sinds 9 uur een storing." in content
    routed.wait_for_ticket(1, lambda t: t["status"] == "waiting_upstream", "waiting upstream")

    upstream = escalation.message["Reply-To"].addresses[0].addr_spec
    answer = mail(
        sender="casemail@css.microsoft.com",
        subject=f"RE: {escalation.message['Subject']} - TrackingID#2411250010001234",
        body="We are investigating.",
    )
    routed.send(answer, recipients=[upstream])
    ticket = routed.wait_for_ticket(1, lambda t: t["status"] == "open", "the upstream reply")
    assert [m["kind"] for m in ticket["messages"] if m["direction"] == "in"][-1] == "upstream"
    assert ticket["cases"] == ["TrackingID#2411250010001234"]
    assert (
        "upstream cases: TrackingID#2411250010001234" in routed.cli("tickets", "show", "1").stdout
    )
    sink.wait_for_mail("jan@contoso.example", count=2)
    assert len(sink.to("anna@fabrikam.example")) == 1  # the acknowledgement only


def test_indirect_customer_escalates_to_its_provider(routed: Gateway, sink: Sink) -> None:
    routed.send(
        mail(
            sender="carl@adatum.example",
            subject="Outage in Teams",
            body="Teams is down for all of us.",
        )
    )
    (ticket,) = routed.wait_for_tickets(1)
    assert ticket["route"]["target"] == "northwind"
    (handover,) = sink.wait_for_mail(NORTHWIND)
    assert "Adatum Corporation" in handover.message.get_content()
    assert sink.to(MICROSOFT) == []


def test_forward_rule_sends_the_ticket_to_the_party(routed: Gateway, sink: Sink) -> None:
    routed.send(mail(subject="Printer offline", body="The printer on floor 2 is offline."))
    (ticket,) = routed.wait_for_tickets(1)
    assert ticket["route"] == {
        "action": "forward",
        "target": "northwind",
        "rule": "Printers to Northwind",
    }
    sink.wait_for_mail(NORTHWIND)
    events = [e["what"] for e in routed.ticket(1)["events"]]
    assert "forwarded" in events


def test_direct_microsoft_customers_are_told_where_non_csp_questions_go(
    routed: Gateway, sink: Sink
) -> None:
    routed.send(mail(sender="carl@adatum.example", subject="Xbox account locked", body="Help."))
    routed.wait_for_tickets(1)
    replies = sink.wait_for_mail("carl@adatum.example", count=2)
    texts = [r.message.get_content() for r in replies]
    assert any("Microsoft directly" in t for t in texts), texts
    routed.send(mail(sender="bob@fabrikam.example", subject="Xbox account locked", body="Help."))
    routed.wait_for_tickets(2)
    sink.wait_for_mail("jan@contoso.example", count=2)
    assert len(sink.to("bob@fabrikam.example")) == 1  # not a direct-Microsoft customer


def test_known_incident_is_in_the_acknowledgement_and_not_escalated(
    routed: Gateway, sink: Sink
) -> None:
    routed.send(mail(sender="carl@adatum.example", subject="Outlook cannot send mail"))
    (ticket,) = routed.wait_for_tickets(1)
    assert ticket["route"]["rule"] == "Known incident"
    (ack,) = sink.wait_for_mail("carl@adatum.example")
    content = ack.message.get_content()
    assert "Some users can't send mail from Outlook (status: investigating)" in content
    assert sink.to(NORTHWIND) == []


def test_service_health_file_is_read_when_it_changes(routed: Gateway, sink: Sink) -> None:
    graph = {
        "value": [
            {
                "id": "TM999",
                "service": "Microsoft Teams",
                "title": "Teams meetings fail to start",
                "status": "serviceDegradation",
                "startDateTime": "2026-01-01T00:00:00Z",
                "isResolved": False,
            }
        ]
    }
    (routed.home / "service-health.json").write_text(json.dumps(graph))
    routed.send(
        mail(
            sender="carl@adatum.example",
            subject="Teams meetings fail",
            body="Our Teams meetings do not start.",
        )
    )
    routed.wait_for_tickets(1)
    (ack,) = sink.wait_for_mail("carl@adatum.example")
    assert "Teams meetings fail to start (status: serviceDegradation)" in ack.message.get_content()


def test_three_customers_outage_mails_make_one_escalation(routed: Gateway, sink: Sink) -> None:
    for sender in ("anna@fabrikam.example", "tom@tailwind.example", "x@unknown.example"):
        routed.send(mail(sender=sender, subject="Outage: mail is down", body="Nothing works."))
    routed.wait_for_tickets(3)
    sink.wait_for_mail("x@unknown.example")  # all three were processed
    (escalation,) = sink.wait_for_mail(MICROSOFT)
    assert escalation.message["Subject"].startswith("[CONTOSO#1] Large network outage")
    for number in (2, 3):
        ticket = routed.wait_for_ticket(
            number, lambda t: t["status"] == "waiting_upstream", "linked ticket waiting upstream"
        )
        linked = [e for e in ticket["events"] if e["what"] == "linked"]
        assert linked and linked[0]["escalated_with"] == 1
    assert len(sink.to(MICROSOFT)) == 1


def test_a_known_issue_goes_upstream_once_enough_customers_have_it(
    routed: Gateway, sink: Sink
) -> None:
    routed.send(mail(sender="anna@fabrikam.example", subject="Outlook cannot send mail"))
    routed.wait_for_tickets(1)
    sink.wait_for_mail("anna@fabrikam.example")
    assert sink.to(MICROSOFT) == []  # one customer: the documented incident is enough
    routed.send(mail(sender="tom@tailwind.example", subject="Outlook cannot send mail"))
    (escalation,) = sink.wait_for_mail(MICROSOFT)
    assert "Known issue EX123456 affects 2 customers" in escalation.message["Subject"]
    routed.send(mail(sender="tom2@tailwind.example", subject="Outlook cannot send mail either"))
    routed.wait_for_ticket(3, lambda t: any(e["what"] == "linked" for e in t["events"]), "linked")
    assert len(sink.to(MICROSOFT)) == 1


def test_upstream_automatic_acknowledgements_get_no_answer(routed: Gateway, sink: Sink) -> None:
    routed.send(mail(subject="Outage of mail", body="Nothing works."))
    (escalation,) = sink.wait_for_mail(MICROSOFT)
    upstream = escalation.message["Reply-To"].addresses[0].addr_spec
    before = len(sink.received)
    auto = mail(
        sender="noreply@microsoft.com",
        subject="Case received: TrackingID#2411250010009999",
        body="We received your request.",
        Auto_Submitted="auto-replied",
    )
    routed.send(auto, recipients=[upstream])
    ticket = routed.wait_for_ticket(
        1, lambda t: len([m for m in t["messages"] if m["direction"] == "in"]) == 2, "the auto-ack"
    )
    assert [m["kind"] for m in ticket["messages"] if m["direction"] == "in"][-1] == "system"
    wait_for(lambda: routed.json("outbox", "list") == [], 10, "an empty outbox")
    assert len(sink.received) == before  # nothing back, nobody notified: no mail ping-pong


def test_an_upstream_reply_with_only_the_tag_threads_back(routed: Gateway, sink: Sink) -> None:
    routed.send(mail(subject="Outage of Teams", body="Teams is down for us."))
    sink.wait_for_mail(MICROSOFT)
    # A new mail from the provider's case system: no References, not to the signed address.
    update = mail(
        sender="csp-support@northwind.example",
        subject="Update [CONTOSO#1] - Case 55512345",
        body="Fixed on our side.",
    )
    routed.send(update)
    ticket = routed.wait_for_ticket(1, lambda t: t["status"] == "open", "the tag-only reply")
    assert ticket["cases"] == ["Case 55512345"]
    assert len(routed.tickets()) == 1


def test_a_ticket_no_agent_of_its_queue_may_act_on_goes_to_the_admin_agents(
    tmp_path: Path, sink: Sink
) -> None:
    """Sam works the escalations queue for Fabrikam and Adatum only: Tailwind's tickets there
    reached nobody, silently. Now the admin-agents hear of them, and why."""
    rule = (
        '\n[[rules]]\nname = "Tailwind to escalations"\nwhen = { customer = ["tailwind"] }\n'
        'then = { action = "handle", queue = "escalations" }\n'
    )
    gateway = Gateway(tmp_path, sink, rule)
    checked = gateway.cli("check-config")
    assert "queue 'escalations': no agent of it may act on customer 'tailwind'" in checked.stderr
    gateway.start()
    try:
        gateway.send(mail(sender="kim@tailwind.example", subject="VPN"))
        (notification,) = sink.wait_for_mail("priya@contoso.example")  # the admin-agent
        assert "No agent of queue escalations may act on this customer" in (
            notification.message.get_content()
        )
        assert sink.to("sam@contoso.example") == [] and sink.to("jan@contoso.example") == []
        notified = [e for e in gateway.ticket(1)["events"] if e["what"] == "notified"]
        assert notified[0]["reason"] == "no agent of the queue may act on the customer"
    finally:
        assert gateway.stop() == 0
