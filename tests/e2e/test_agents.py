"""Agents answer from their own mail client: replies built as Outlook, Thunderbird and Gmail
build them, commands, roles, and forged or tampered replies. After every scenario, no mail to a
customer shows an agent, an internal note or upstream mail."""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.delivery.reply_address import agent_tag, signed_reply_address
from tests.e2e.conftest import PARTNER, Gateway, Received, Sink, mail, wait_for

JAN, PRIYA, SAM = "jan@contoso.example", "priya@contoso.example", "sam@contoso.example"
AGENTS = {JAN: "Jan de Vries", PRIYA: "Priya Raman", SAM: "Sam Support"}
ANNA = "anna@fabrikam.example"
SECRET_NOTE = "internal: customer is on the old licence"
UPSTREAM_TEXT = "Microsoft engineering notes"


def customer_safe(sink: Sink) -> None:
    """The invariant: what customers receive never shows an agent, a note or upstream mail."""
    for received in sink.received:
        if not any(r.endswith(("@fabrikam.example", "@adatum.example")) for r in received.rcpt_tos):
            continue
        message = received.message
        headers = "\n".join(f"{k}: {v}" for k, v in message.items()).lower()
        for address, name in AGENTS.items():
            assert address not in headers and name.lower() not in headers, headers
        body = received.data.decode("utf-8", "replace")
        assert SECRET_NOTE not in body and UPSTREAM_TEXT not in body
        assert "support+" not in body  # no signed agent address leaks
        assert message["From"].addresses[0].addr_spec == PARTNER


@pytest.fixture
def safe_sink(sink: Sink) -> Iterator[Sink]:
    yield sink
    customer_safe(sink)


def open_ticket(gateway: Gateway, sink: Sink, sender: str = ANNA) -> EmailMessage:
    request = mail(sender=sender, subject="Outlook cannot send mail")
    before = len(gateway.tickets())
    gateway.send(request)
    gateway.wait_for_tickets(before + 1)
    return request


def notification(sink: Sink, agent: str, count: int = 1) -> Received:
    return sink.wait_for_mail(agent, count=count)[count - 1]


def signed_address(note: Received) -> str:
    return str(note.message["Reply-To"].addresses[0].addr_spec)


def reply(note: Received, agent: str, text: str, quote: str = "outlook") -> EmailMessage:
    """A reply as the agent's client builds it: new text on top, the notification quoted."""
    original = note.message.get_content()
    answer = EmailMessage(policy=SMTP)
    answer["From"] = f"{AGENTS[agent]} <{agent}>"
    answer["To"] = signed_address(note)
    answer["Subject"] = QUOTE_STYLES[quote][0] + note.message["Subject"]
    answer["Date"] = email.utils.format_datetime(email.utils.localtime())
    answer["Message-ID"] = email.utils.make_msgid(domain="contoso.example")
    answer["In-Reply-To"] = note.message["Message-ID"]
    answer["References"] = note.message["Message-ID"]
    answer.set_content(text + "\n\n" + QUOTE_STYLES[quote][1](original))
    if quote == "outlook":
        answer.add_alternative(
            f"<html><body><p>{text.replace(chr(10), '<br>')}</p>"
            f'<div id="divRplyFwdMsg"><b>From:</b> Contoso Cloud<br>'
            f"<b>Sent:</b> Wednesday<br></div><div>{original}</div>"
            "</body></html>",
            subtype="html",
        )
    return answer


def _outlook(original: str) -> str:
    return (
        "________________________________\nFrom: Contoso Cloud <support@contoso.example>\n"
        "Sent: Wednesday, November 25, 2026 10:00 AM\nTo: Jan de Vries <jan@contoso.example>\n"
        "Subject: [CONTOSO#1] Outlook cannot send mail\n\n" + original
    )


def _dutch_outlook(original: str) -> str:
    return (
        "Van: Contoso Cloud <support@contoso.example>\nVerzonden: woensdag 25 november 2026 "
        "10:00\nAan: Jan de Vries <jan@contoso.example>\nOnderwerp: [CONTOSO#1] Outlook\n\n"
        + original
    )


def _quoted(header: str) -> Callable[[str], str]:
    return lambda original: header + "\n" + "\n".join("> " + line for line in original.split("\n"))


QUOTE_STYLES: dict[str, tuple[str, Callable[[str], str]]] = {
    "outlook": ("RE: ", _outlook),
    "dutch-outlook": ("RE: ", _dutch_outlook),
    "thunderbird": ("Re: ", _quoted("On 25/11/2026 10:00, Contoso Cloud wrote:")),
    "gmail": (
        "Re: ",
        _quoted("On Wed, Nov 25, 2026 at 10:00 AM Contoso Cloud <support@contoso.example> wrote:"),
    ),
}


def send_reply(gateway: Gateway, message: EmailMessage, to: str | None = None) -> None:
    gateway.send(
        message,
        sender=email.utils.parseaddr(str(message["From"]))[1],
        recipients=[to or str(message["To"])],
    )


def ticket_after(gateway: Gateway, number: int, count: int) -> dict[str, object]:
    """Ticket `number` once it holds `count` incoming messages."""
    return gateway.wait_for_ticket(
        number,
        lambda t: len([m for m in t["messages"] if m["direction"] == "in"]) >= count,
        f"{count} incoming messages on ticket {number}",
    )


@pytest.mark.parametrize("client", sorted(QUOTE_STYLES))
def test_answer_is_sent_from_the_partner_in_the_customers_thread(
    gateway: Gateway, safe_sink: Sink, client: str
) -> None:
    request = open_ticket(gateway, safe_sink)
    (ack,) = safe_sink.wait_for_mail(ANNA)
    answer = reply(
        notification(safe_sink, JAN), JAN, "Please restart Outlook in safe mode.", client
    )
    answer.add_attachment(
        b"%PDF-1.4 steps", maintype="application", subtype="pdf", filename="steps.pdf"
    )
    send_reply(gateway, answer)

    relayed = safe_sink.wait_for_mail(ANNA, count=2)[1].message
    assert relayed["Subject"] == "Re: [CONTOSO#1] Outlook cannot send mail"
    assert relayed["To"] == ANNA
    assert relayed["In-Reply-To"] == ack.message["Message-ID"]
    assert request["Message-ID"] in relayed["References"]
    assert "Auto-Submitted" not in relayed
    body = relayed.get_body(("plain",))
    assert body is not None
    assert body.get_content().strip() == "Please restart Outlook in safe mode."
    (attachment,) = list(relayed.iter_attachments())
    assert attachment.get_filename() == "steps.pdf"
    assert attachment.get_content() == b"%PDF-1.4 steps"
    ticket = gateway.ticket(1)
    assert ticket["status"] == "open"
    assert [m["kind"] for m in ticket["messages"] if m["direction"] == "in"] == [
        "customer",
        "agent",
    ]


def test_a_colleague_on_the_thread_gets_the_answer_too(gateway: Gateway, safe_sink: Sink) -> None:
    request = mail(subject="Printer")
    request["Cc"] = "bob@fabrikam.example, outsider@elsewhere.example"
    gateway.send(request, recipients=[PARTNER])
    gateway.wait_for_tickets(1)
    send_reply(gateway, reply(notification(safe_sink, JAN), JAN, "Fixed."))
    relayed = safe_sink.wait_for_mail(ANNA, count=2)[1]
    assert sorted(relayed.rcpt_tos) == [ANNA, "bob@fabrikam.example"]  # not the outsider


def test_note_stays_on_the_ticket(gateway: Gateway, safe_sink: Sink) -> None:
    open_ticket(gateway, safe_sink)
    send_reply(gateway, reply(notification(safe_sink, JAN), JAN, f"#note\n{SECRET_NOTE}"))
    ticket = ticket_after(gateway, 1, 2)
    note = [m for m in ticket["messages"] if m["kind"] == "note"]  # type: ignore[index]
    assert note and note[0]["text"] == SECRET_NOTE
    wait_for(lambda: gateway.json("outbox", "list") == [], 10, "nothing waiting")
    assert len(safe_sink.to(ANNA)) == 1  # the acknowledgement only


@pytest.mark.parametrize(
    ("commands", "field", "value"),
    [
        ("#close", "status", "closed"),
        ("#pending", "status", "waiting_customer"),
        ("#close\n#reopen", "status", "open"),
        ("#assign priya", "assignee", PRIYA),
        ("#PRIORITY high", "priority", "high"),
    ],
)
def test_commands_change_the_ticket(
    gateway: Gateway, safe_sink: Sink, commands: str, field: str, value: str
) -> None:
    open_ticket(gateway, safe_sink)
    send_reply(gateway, reply(notification(safe_sink, JAN), JAN, commands))
    ticket = gateway.wait_for_ticket(1, lambda t: t[field] == value, f"{field} = {value}")
    assert ticket[field] == value
    assert len(safe_sink.to(ANNA)) == 1  # commands alone send the customer nothing


def test_unknown_command_sends_nothing_and_tells_the_agent(
    gateway: Gateway, safe_sink: Sink
) -> None:
    open_ticket(gateway, safe_sink)
    send_reply(gateway, reply(notification(safe_sink, JAN), JAN, "#clsoe\nDone, closing."))
    notice = safe_sink.wait_for_mail(JAN, count=2)[1].message
    assert "unknown command #clsoe" in notice.get_content()
    assert gateway.ticket(1)["status"] == "new"
    assert len(safe_sink.to(ANNA)) == 1


def test_escalation_needs_the_role_and_goes_to_microsoft_for_direct_customers(
    gateway: Gateway, safe_sink: Sink
) -> None:
    open_ticket(gateway, safe_sink)
    send_reply(gateway, reply(notification(safe_sink, JAN), JAN, "#escalate"))
    refused = safe_sink.wait_for_mail(JAN, count=2)[1].message
    assert "do not allow #escalate" in refused.get_content()

    send_reply(
        gateway,
        reply(
            notification(safe_sink, PRIYA),
            PRIYA,
            "#escalate Service unavailable\nWe asked Microsoft to look.",
        ),
    )
    (escalation,) = safe_sink.wait_for_mail("escalations@microsoft.example")
    content = escalation.message.get_content()
    assert escalation.message["Subject"].startswith("[CONTOSO#1] Service unavailable: ")
    for fact in ("Fabrikam BV", "fabrikam.onmicrosoft.com", "direct", "Since this morning"):
        assert fact in content
    upstream = escalation.message["Reply-To"].addresses[0].addr_spec
    assert upstream.startswith("support+1.u.")
    ticket = gateway.wait_for_ticket(1, lambda t: t["status"] == "waiting_upstream", "escalated")
    assert any(e["what"] == "escalated" for e in ticket["events"])  # type: ignore[union-attr]
    safe_sink.wait_for_mail(ANNA, count=2)  # the answer "We asked Microsoft to look."

    # Microsoft's reply threads back to the agents only.
    answer = mail(
        sender="support@microsoft.com",
        subject="RE: " + escalation.message["Subject"],
        body=UPSTREAM_TEXT,
    )
    gateway.send(answer, recipients=[upstream])
    ticket = gateway.wait_for_ticket(1, lambda t: t["status"] == "open", "upstream reply")
    kinds = [m["kind"] for m in ticket["messages"] if m["direction"] == "in"]  # type: ignore[union-attr]
    assert kinds[-1] == "upstream"
    safe_sink.wait_for_mail(JAN, count=3)
    assert len(safe_sink.to(ANNA)) == 2


def test_indirect_customers_escalate_to_their_provider_and_forward_needs_admin(
    gateway: Gateway, safe_sink: Sink, tmp_path: Path
) -> None:
    open_ticket(gateway, safe_sink, sender="carl@adatum.example")
    secret = load_config(gateway.config)
    sam_address = signed_reply_address(secret, 1, agent_tag(SAM))
    note = notification(safe_sink, JAN)
    escalate = reply(note, JAN, "#escalate")
    escalate.replace_header("From", SAM)
    send_reply(gateway, escalate, to=sam_address)
    (handover,) = safe_sink.wait_for_mail("csp-support@northwind.example")
    assert "Adatum Corporation" in handover.message.get_content()

    forward = reply(note, JAN, "#forward northwind")
    forward.replace_header("From", SAM)
    send_reply(gateway, forward, to=sam_address)
    refused = safe_sink.wait_for_mail(SAM, count=1)[0].message
    assert "do not allow #forward" in refused.get_content()
    assert len(safe_sink.to("csp-support@northwind.example")) == 1


def test_forged_from_without_a_signed_address_is_not_relayed(
    gateway: Gateway, safe_sink: Sink
) -> None:
    open_ticket(gateway, safe_sink)
    note = notification(safe_sink, JAN)
    forged = reply(note, JAN, "Please send me your password.")
    forged.replace_header("To", PARTNER)  # a forger has the tag, not the signed address
    gateway.send(forged, sender=JAN, recipients=[PARTNER])
    ticket = ticket_after(gateway, 1, 2)
    refused = [m for m in ticket["messages"] if m["kind"] == "note"]  # type: ignore[index]
    assert refused and refused[0]["text"].startswith("Refused, not sent: it was not sent to")
    notice = safe_sink.wait_for_mail(JAN, count=2)[1].message
    assert "was not sent" in notice["Subject"]
    assert len(safe_sink.to(ANNA)) == 1


def test_a_tampered_signature_is_not_trusted(gateway: Gateway, safe_sink: Sink) -> None:
    open_ticket(gateway, safe_sink)
    note = notification(safe_sink, JAN)
    address = signed_address(note)
    local, _, domain = address.partition("@")
    tampered = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"
    answer = reply(note, JAN, "Tampered.")
    answer.replace_header("To", tampered)
    send_reply(gateway, answer, to=tampered)
    ticket = ticket_after(gateway, 1, 2)
    assert any(m["kind"] == "note" for m in ticket["messages"])  # type: ignore[union-attr]
    assert len(safe_sink.to(ANNA)) == 1


def test_an_agent_not_allowed_on_the_customer_is_refused(gateway: Gateway, safe_sink: Sink) -> None:
    open_ticket(gateway, safe_sink, sender="carl@adatum.example")  # priya: fabrikam only
    config = load_config(gateway.config)
    address = signed_reply_address(config, 1, agent_tag(PRIYA))
    answer = reply(notification(safe_sink, JAN), JAN, "Answer from the wrong agent.")
    answer.replace_header("From", PRIYA)
    answer.replace_header("To", address)
    send_reply(gateway, answer, to=address)
    notice = safe_sink.wait_for_mail(PRIYA)[-1].message
    assert "may not act on customer adatum" in notice.get_content()
    assert len(safe_sink.to("carl@adatum.example")) == 1


def test_another_agents_signed_address_is_refused(gateway: Gateway, safe_sink: Sink) -> None:
    open_ticket(gateway, safe_sink)
    answer = reply(notification(safe_sink, JAN), JAN, "Using Jan's notification.")
    answer.replace_header("From", PRIYA)
    send_reply(gateway, answer)
    notice = safe_sink.wait_for_mail(JAN, count=2)[1].message  # Jan's address was used
    assert f"came from {PRIYA}" in notice.get_content()
    assert len(safe_sink.to(ANNA)) == 1


def test_the_same_customer_mail_to_two_partner_addresses_is_one_entry(
    gateway: Gateway, safe_sink: Sink
) -> None:
    request = mail(subject="To and Cc")
    request["Cc"] = "helpdesk@contoso.example"
    gateway.send(request, recipients=[PARTNER])  # an MTA may deliver once per recipient
    gateway.send(request, recipients=["helpdesk@contoso.example"])
    (ticket,) = gateway.wait_for_tickets(1)
    assert len([m for m in gateway.ticket(1)["messages"] if m["direction"] == "in"]) == 1
    assert ticket["subject"] == "To and Cc"


@pytest.fixture
def checked_gateway(tmp_path: Path, sink: Sink) -> Iterator[Gateway]:
    daemon = Gateway(tmp_path, sink, '\n[security]\ntrusted_authserv_id = "mx.contoso.example"\n')
    daemon.start()
    yield daemon
    assert daemon.stop() == 0


@pytest.mark.parametrize(
    ("results", "relayed"),
    [
        (None, False),
        ("mx.contoso.example; dkim=pass header.d=contoso.example header.s=s1", True),
        ("mx.contoso.example; dkim=fail header.d=contoso.example; dmarc=fail", False),
        ("evil.example; dkim=pass header.d=contoso.example", False),  # not the trusted MTA
    ],
)
def test_authentication_results_of_the_trusted_mta_are_required(
    checked_gateway: Gateway, sink: Sink, results: str | None, relayed: bool
) -> None:
    open_ticket(checked_gateway, sink)
    answer = reply(notification(sink, JAN), JAN, "Checked answer.")
    if results:
        answer["Authentication-Results"] = results
    send_reply(checked_gateway, answer)
    ticket_after(checked_gateway, 1, 2)
    if relayed:
        sink.wait_for_mail(ANNA, count=2)
    else:
        notice = sink.wait_for_mail(JAN, count=2)[1].message
        assert "shows no DKIM or DMARC pass" in notice.get_content()
        assert len(sink.to(ANNA)) == 1
    customer_safe(sink)


def test_an_admin_agent_may_forward_to_a_party(gateway: Gateway, safe_sink: Sink) -> None:
    open_ticket(gateway, safe_sink)
    send_reply(gateway, reply(notification(safe_sink, PRIYA), PRIYA, "#forward northwind"))
    (forward,) = safe_sink.wait_for_mail("csp-support@northwind.example")
    assert forward.message["Subject"] == "[CONTOSO#1] Outlook cannot send mail"
    assert "Fabrikam BV" in forward.message.get_content()
    ticket = gateway.wait_for_ticket(1, lambda t: t["status"] == "waiting_upstream", "forwarded")
    assert any(e["what"] == "forwarded" for e in ticket["events"])
    assert len(safe_sink.to(ANNA)) == 1  # a command alone tells the customer nothing


def test_an_answer_to_a_requester_no_mail_can_reach_stays_on_the_ticket(
    gateway: Gateway, safe_sink: Sink
) -> None:
    request = mail(subject="Outlook cannot send mail")
    request.replace_header("From", "Big Bug bb@fabrikam.example")  # no angle brackets
    gateway.send(request, sender="bb@fabrikam.example")
    (ticket,) = gateway.wait_for_tickets(1)
    send_reply(gateway, reply(notification(safe_sink, JAN), JAN, "Please restart Outlook."))

    ticket = gateway.wait_for_ticket(
        ticket["number"],
        lambda t: any(e["what"] == "answer_impossible" for e in t["events"]),
        "the answer to be kept as impossible to send",
    )
    # kept on the ticket, not quarantined (a quarantine would have undone the whole reply)
    assert [m["kind"] for m in ticket["messages"] if m["direction"] == "in"] == [
        "customer",
        "agent",
    ]
    assert all(set(r.rcpt_tos) <= set(AGENTS) for r in safe_sink.received)  # notifications only
