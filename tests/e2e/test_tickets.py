"""New requests, follow-ups and robots: SMTP in, tickets by the CLI, mail at the sink."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Gateway, Sink, mail, wait_for


def incoming(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in ticket["messages"] if m["direction"] == "in"]


def test_new_request_opens_ticket_acknowledges_and_notifies(gateway: Gateway, sink: Sink) -> None:
    request = mail(subject="Outlook kan niet verzenden")
    gateway.send(request)

    (ticket,) = gateway.wait_for_tickets(1)
    assert ticket["number"] == 1
    assert ticket["customer"] == "fabrikam"
    assert ticket["requester"] == "anna@fabrikam.example"
    assert ticket["status"] == "new"
    assert ticket["route"] == {"action": "handle", "target": "helpdesk", "rule": None}

    (ack,) = sink.wait_for_mail("anna@fabrikam.example")
    assert ack.message["Subject"] == "[CONTOSO#1] Outlook kan niet verzenden"
    assert ack.message["Auto-Submitted"] == "auto-replied"
    assert ack.message["X-Auto-Response-Suppress"] == "All"
    assert ack.message["In-Reply-To"] == request["Message-ID"]
    body = ack.message.get_content()
    # Fabrikam reads Dutch; the support profile and the self-help link are in every ack.
    assert "geregistreerd als ticket [CONTOSO#1]" in body
    for profile in ("Mon-Fri 08:00-18:00", "+31 20 555 0100", "EUR 95/hour", "support.microsoft"):
        assert profile in body

    for agent in ("jan@contoso.example", "priya@contoso.example"):
        (note,) = sink.wait_for_mail(agent)
        assert note.message["Subject"] == "[CONTOSO#1] Outlook kan niet verzenden"
        assert "Since this morning Outlook cannot send mail." in note.message.get_content()
        reply_to = note.message["Reply-To"].addresses[0].addr_spec
        assert reply_to.startswith("support+1.") and reply_to.endswith("@contoso.example")
    assert len(sink.received) == 3


def test_unknown_sender_gets_ticket_and_only_agents_for_all_customers(
    gateway: Gateway, sink: Sink
) -> None:
    gateway.send(mail(sender="someone@elsewhere.example", subject="Question"))
    (ticket,) = gateway.wait_for_tickets(1)
    assert ticket["customer"] is None
    (ack,) = sink.wait_for_mail("someone@elsewhere.example")
    assert "registered it as ticket [CONTOSO#1]" in ack.message.get_content()  # English default
    sink.wait_for_mail("jan@contoso.example")
    assert sink.to("priya@contoso.example") == []  # priya may only act on fabrikam


def test_customer_reply_is_threaded_with_new_text_only(gateway: Gateway, sink: Sink) -> None:
    gateway.send(mail())
    (ack,) = sink.wait_for_mail("anna@fabrikam.example")

    reply = mail(
        subject="Re: " + ack.message["Subject"],
        body="It works again after a restart.\n\n"
        "On Wed, 25 Nov 2026 at 10:00, Contoso Cloud <support@contoso.example> wrote:\n"
        "> Thank you for your message.\n",
    )
    reply.replace_header("Subject", "Re: something else entirely")  # threads by References
    reply["In-Reply-To"] = ack.message["Message-ID"]
    reply["References"] = ack.message["Message-ID"]
    gateway.send(reply)

    ticket = gateway.wait_for_ticket(1, lambda t: len(incoming(t)) == 2, "the reply on ticket 1")
    assert [m["kind"] for m in incoming(ticket)] == ["customer", "customer"]
    assert incoming(ticket)[1]["text"] == "It works again after a restart."
    assert len(gateway.tickets()) == 1
    # Agents hear of the follow-up; the customer gets no second acknowledgement.
    sink.wait_for_mail("jan@contoso.example", count=2)
    assert len(sink.to("anna@fabrikam.example")) == 1


def test_subject_tag_threads_only_the_tickets_own_customer(gateway: Gateway, sink: Sink) -> None:
    gateway.send(mail())
    gateway.wait_for_tickets(1)
    gateway.send(mail(sender="bob@fabrikam.example", subject="RE: [CONTOSO#1] Outlook"))
    gateway.send(mail(sender="eve@adatum.example", subject="RE: [CONTOSO#1] Outlook"))

    tickets = gateway.wait_for_tickets(2)
    gateway.wait_for_ticket(1, lambda t: len(incoming(t)) == 2, "colleague's mail on ticket 1")
    assert [t["requester"] for t in tickets] == ["anna@fabrikam.example", "eve@adatum.example"]


def test_same_message_twice_is_one_entry_but_a_reused_message_id_is_kept(
    gateway: Gateway, sink: Sink
) -> None:
    request = mail()
    gateway.send(request)
    gateway.send(request)  # an MTA retrying after a lost 250
    other = mail(subject="A different question", body="Different content.")
    other.replace_header("Message-ID", request["Message-ID"])
    gateway.send(other)

    tickets = gateway.wait_for_tickets(2)
    assert [t["subject"] for t in tickets] == ["Outlook cannot send mail", "A different question"]
    first = gateway.ticket(1)
    assert len(incoming(first)) == 1
    sink.wait_for_mail("anna@fabrikam.example", count=2)


def test_robots_open_no_ticket_and_get_no_mail(gateway: Gateway, sink: Sink) -> None:
    gateway.send(
        mail(sender="ooo@fabrikam.example", subject="Out of office", Auto_Submitted="auto-replied")
    )
    gateway.send(mail(sender="news@fabrikam.example", subject="Newsletter", Precedence="bulk"))
    gateway.send(mail(sender="list@fabrikam.example", subject="Digest", List_Id="<x.example>"))
    gateway.send(mail(sender="person@fabrikam.example", subject="Real request"))

    (ticket,) = gateway.wait_for_tickets(1)
    assert ticket["requester"] == "person@fabrikam.example"
    # Processing goes in order of arrival: once the real request is answered, the robots
    # before it have been handled too.
    wait_for(lambda: len(sink.received) >= 3, 10, "mail for the real request")
    for robot in ("ooo@fabrikam.example", "news@fabrikam.example", "list@fabrikam.example"):
        assert sink.to(robot) == []


def test_bounce_with_null_sender_is_attached_to_its_ticket(gateway: Gateway, sink: Sink) -> None:
    gateway.send(mail())
    (ack,) = sink.wait_for_mail("anna@fabrikam.example")
    # Exchange's bounces come from an ordinary-looking address; only MAIL FROM:<> tells.
    bounce = mail(
        sender="MicrosoftExchange329e71ec88ae@fabrikam.example",
        subject="Undeliverable",
        body="Your message could not be delivered.",
    )
    bounce["In-Reply-To"] = ack.message["Message-ID"]
    gateway.send(bounce, sender="")  # MAIL FROM:<>

    ticket = gateway.wait_for_ticket(1, lambda t: len(incoming(t)) == 2, "bounce on ticket 1")
    assert incoming(ticket)[1]["kind"] == "system"
    assert any(e["what"] == "bounce" for e in ticket["events"])
    assert len(gateway.tickets()) == 1
    assert len(sink.to("anna@fabrikam.example")) == 1
    assert len(sink.to("microsoftexchange329e71ec88ae@fabrikam.example")) == 0


def test_acknowledgements_are_rate_limited_per_sender(gateway: Gateway, sink: Sink) -> None:
    # Two auto-responders that do not mark themselves would otherwise mail each other forever.
    for n in range(5):
        gateway.send(mail(sender="loop@fabrikam.example", subject=f"Auto answer {n}"))
    gateway.wait_for_tickets(5)
    sink.wait_for_mail("jan@contoso.example", count=5)
    assert len(sink.to("loop@fabrikam.example")) == 3  # acks_per_hour = 3 in the test config
    events = [e["what"] for e in gateway.ticket(5)["events"]]
    assert "acknowledgement_suppressed" in events


def test_mail_to_any_partner_domain_is_taken(gateway: Gateway, sink: Sink) -> None:
    refused = gateway.send(mail(), recipients=["helpdesk@contoso-support.example"])
    assert refused == {}
    (ticket,) = gateway.wait_for_tickets(1)
    assert ticket["requester"] == "anna@fabrikam.example"
