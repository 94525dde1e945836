"""gateway/delivery/sender.py: the one module that turns outgoing mail into bytes.

Each test parses the bytes back as a mail client would and checks the headers it promises.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import EmailMessage
from typing import Any

import pytest

from gateway.config import Config, Customer, KnownIssue
from gateway.delivery import sender, wire
from gateway.delivery.reply_address import ReplyTarget, agent_tag, verify_reply_address
from gateway.delivery.templates import Templates
from gateway.store.models import Ticket
from parsers.message import ParsedMessage, parse_message

CUSTOMER_MAIL = (
    b"From: Anna de Boer <anna@fabrikam.example>\r\n"
    b"To: support@contoso.example\r\n"
    b"Subject: Printer broken\r\n"
    b"Message-ID: <anna-2@fabrikam.example>\r\n"
    b"In-Reply-To: <anna-1@fabrikam.example>\r\n"
    b"References: <anna-0@fabrikam.example> <anna-1@fabrikam.example>\r\n"
    b"\r\n"
    b"The printer on floor 2 is broken.\r\n"
)


@pytest.fixture
def templates() -> Templates:
    return Templates()


@pytest.fixture
def customer_message() -> ParsedMessage:
    return parse_message(CUSTOMER_MAIL)


def ticket(
    number: int = 42,
    customer_id: str | None = "fabrikam",
    requester: str = "anna@fabrikam.example",
) -> Ticket:
    return Ticket(
        number=number,
        subject="Printer broken",
        status="new",
        customer_id=customer_id,
        requester=requester,
        queue="helpdesk",
        priority="normal",
        route_action="handle",
        route_target="helpdesk",
        route_rule=None,
    )


def customer(config: Config, customer_id: str) -> Customer:
    return next(c for c in config.customers if c.id == customer_id)


def parsed(mail: sender.OutgoingMail) -> EmailMessage:
    message = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body_of(mail: sender.OutgoingMail) -> str:
    part = parsed(mail).get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def acknowledgement(
    config: Config, templates: Templates, message: ParsedMessage, customer_id: str | None
) -> sender.OutgoingMail:
    found = customer(config, customer_id) if customer_id else None
    return sender.acknowledgement(
        config, templates, ticket(customer_id=customer_id), message, found
    )


def notification(
    config: Config, templates: Templates, message: ParsedMessage, agent_index: int = 0
) -> sender.OutgoingMail:
    return sender.agent_notification(
        config,
        templates,
        ticket(),
        message,
        customer(config, "fabrikam"),
        config.agents[agent_index],
        followup=False,
    )


# --- what every outgoing message has ---


@pytest.mark.parametrize(
    ("build", "auto_submitted"),
    [
        (lambda c, t, m: acknowledgement(c, t, m, "fabrikam"), "auto-replied"),
        (notification, "auto-generated"),
    ],
    ids=["acknowledgement", "notification"],
)
def test_every_message_comes_from_the_partner_and_is_marked_automatic(
    config: Config,
    templates: Templates,
    customer_message: ParsedMessage,
    build: Callable[[Config, Templates, ParsedMessage], sender.OutgoingMail],
    auto_submitted: str,
) -> None:
    mail = build(config, templates, customer_message)
    message = parsed(mail)

    [from_address] = message["From"].addresses
    assert (from_address.display_name, from_address.addr_spec) == (
        "Contoso Cloud",
        "support@contoso.example",
    )
    assert mail.envelope_from == "support@contoso.example"
    assert message["Auto-Submitted"] == auto_submitted  # RFC 3834
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["Message-ID"] == mail.message_id
    assert mail.message_id.endswith("@contoso.example>")
    assert message["Date"] is not None


# --- acknowledgement ---


def test_acknowledgement_goes_to_the_requester_in_the_customer_thread(
    config: Config, templates: Templates, customer_message: ParsedMessage
) -> None:
    mail = acknowledgement(config, templates, customer_message, "fabrikam")
    message = parsed(mail)

    assert mail.purpose == "acknowledgement"
    assert mail.recipients == ("anna@fabrikam.example",)
    assert message["To"] == "anna@fabrikam.example"
    assert message["In-Reply-To"] == "<anna-2@fabrikam.example>"
    assert message["References"].split() == [
        "<anna-0@fabrikam.example>",
        "<anna-1@fabrikam.example>",
        "<anna-2@fabrikam.example>",
    ]
    assert mail.rate_key == "acknowledgement:anna@fabrikam.example"


def test_acknowledgement_has_the_ticket_tag_in_the_subject(
    config: Config, templates: Templates, customer_message: ParsedMessage
) -> None:
    mail = acknowledgement(config, templates, customer_message, "fabrikam")

    assert parsed(mail)["Subject"] == "[CONTOSO#42] Printer broken"
    assert mail.subject == "[CONTOSO#42] Printer broken"


@pytest.mark.parametrize(
    "subject", ["Re: [CONTOSO#42] Printer broken", "Re: [contoso#42] Printer broken"]
)
def test_the_ticket_tag_is_not_doubled(
    config: Config, templates: Templates, customer_message: ParsedMessage, subject: str
) -> None:
    mail = acknowledgement(config, templates, replace(customer_message, subject=subject), None)

    assert parsed(mail)["Subject"] == subject


def test_the_tag_of_another_ticket_does_not_count(config: Config) -> None:
    assert sender.tagged_subject(config, 4, "Re: [CONTOSO#42] Printer") == (
        "[CONTOSO#4] Re: [CONTOSO#42] Printer"
    )


def test_an_empty_subject_gets_a_placeholder(config: Config) -> None:
    assert sender.tagged_subject(config, 42, "  ") == "[CONTOSO#42] (no subject)"


def test_dutch_customer_gets_the_dutch_acknowledgement(
    config: Config, templates: Templates, customer_message: ParsedMessage
) -> None:
    body = body_of(acknowledgement(config, templates, customer_message, "fabrikam"))

    assert body.startswith("Beste klant,")
    assert "geregistreerd als ticket [CONTOSO#42]" in body
    assert "binnen 4 uur" in body
    assert "Thank you" not in body


@pytest.mark.parametrize("customer_id", ["adatum", None], ids=["english-customer", "unknown"])
def test_others_get_the_english_acknowledgement(
    config: Config, templates: Templates, customer_message: ParsedMessage, customer_id: str | None
) -> None:
    body = body_of(acknowledgement(config, templates, customer_message, customer_id))

    assert body.startswith("Hello,")
    assert "registered it as ticket [CONTOSO#42]" in body
    assert "within 4 hours" in body
    assert "Contoso Cloud" in body


def test_acknowledgement_names_a_known_issue(
    config: Config, templates: Templates, customer_message: ParsedMessage
) -> None:
    issue = KnownIssue(
        id="EX1",
        service="Exchange Online",
        title="Mail is slow",
        status="investigating",
        words=("mail",),
        until=None,
    )

    mail = sender.acknowledgement(
        config, templates, ticket(), customer_message, customer(config, "adatum"), issue
    )

    assert "Exchange Online: Mail is slow (status: investigating)" in body_of(mail)


# --- agent notification ---


def test_notification_reply_to_is_a_signed_address_for_that_agent(
    config: Config, templates: Templates, customer_message: ParsedMessage
) -> None:
    for index, agent in enumerate(config.agents):
        mail = notification(config, templates, customer_message, index)
        message = parsed(mail)

        assert mail.recipients == (agent.address,)
        assert message["To"] == agent.address
        [reply_to] = message["Reply-To"].addresses
        target = verify_reply_address(config, reply_to.addr_spec)
        assert isinstance(target, ReplyTarget)
        assert (target.ticket_number, target.tag) == (42, agent_tag(agent.address))
        assert target.issued == datetime.now(UTC).date()
        assert agent.address not in reply_to.addr_spec


def test_notification_shows_the_new_text_and_the_ticket(
    config: Config, templates: Templates, customer_message: ParsedMessage
) -> None:
    mail = notification(config, templates, customer_message)
    body = body_of(mail)

    assert mail.purpose == "notification"
    assert parsed(mail)["Subject"] == "[CONTOSO#42] Printer broken"
    # Jan's language is Dutch: his notifications are Dutch, whatever the customer's.
    assert body.startswith("Nieuw ticket [CONTOSO#42] in wachtrij helpdesk")
    assert "The printer on floor 2 is broken." in body
    assert "Fabrikam BV (fabrikam, direct, fabrikam.onmicrosoft.com)" in body


def test_notification_puts_each_field_on_its_own_line(config: Config, templates: Templates) -> None:
    with_attachment = parse_message(
        b"From: anna@fabrikam.example\r\nTo: support@contoso.example\r\nSubject: Printer\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nSee the log.\r\n"
        b"--b\r\nContent-Type: text/plain\r\n"
        b'Content-Disposition: attachment; filename="printer.log"\r\n\r\nlog\r\n--b--\r\n'
    )

    lines = body_of(notification(config, templates, with_attachment)).splitlines()

    assert "Van:        anna@fabrikam.example" in lines  # Jan reads Dutch
    assert "Bijlagen:   printer.log" in lines
    customer_line = next(line for line in lines if line.startswith("Klant:"))
    assert customer_line.endswith("(fabrikam, direct, fabrikam.onmicrosoft.com)")


def test_notification_shows_the_defects_of_the_mail(config: Config, templates: Templates) -> None:
    odd = parse_message(
        b"Reply-To: Anna <anna@fabrikam.example>\r\nTo: support@contoso.example\r\n"
        b"Subject: Printer\r\n\r\nIt is broken.\r\n"
    )

    lines = body_of(notification(config, templates, odd)).splitlines()

    assert "Wat er vreemd was aan dit bericht, en wat de gateway aannam:" in lines
    assert "  - no From header; From taken from Reply-To" in lines


def test_notification_shows_the_forwarded_mail(config: Config, templates: Templates) -> None:
    forward = parse_message(
        b"From: Martin <martin@fabrikam.example>\r\nSubject: FW: Printer\r\n\r\n"
        b"See below.\r\n\r\nFrom: Anna Berg <anna@fabrikam.example>\r\n"
        b"Sent: Tuesday, March 3, 2026 9:55 AM\r\nTo: Martin\r\nSubject: Printer\r\n\r\n"
        b"The printer on floor 3 is broken.\r\n"
    )

    body = body_of(notification(config, templates, forward)).replace("\r\n", "\n")

    assert "See below.\n\n---------- Doorgestuurd bericht ----------\n" in body
    assert "Van:        anna@fabrikam.example\n" in body
    assert "Onderwerp:  Printer\n\nThe printer on floor 3 is broken.\n" in body


def test_english_notification_of_a_mail_without_sender(
    config: Config, templates: Templates
) -> None:
    nobody = parse_message(b"Subject: Printer\r\n\r\nIt is broken.\r\n")
    mail = sender.agent_notification(
        config,
        templates,
        ticket(customer_id=None),
        nobody,
        None,
        config.agents[1],
        False,  # Priya reads English
    )

    lines = body_of(mail).splitlines()

    assert "From:       (no sender address)" in lines
    assert "What was odd about this mail, and what the gateway assumed:" in lines


# --- header injection and quoting ---


def test_a_subject_with_crlf_cannot_add_a_header(
    config: Config, templates: Templates, customer_message: ParsedMessage
) -> None:
    evil = replace(customer_message, subject="Hello\r\nBcc: evil@x")

    for mail in (
        acknowledgement(config, templates, evil, "fabrikam"),
        notification(config, templates, evil),
    ):
        message = parsed(mail)

        assert message.get_all("Bcc") is None
        assert message["Subject"] == "[CONTOSO#42] Hello Bcc: evil@x"
        assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
        header_block = mail.data.partition(b"\r\n\r\n")[0]
        assert b"\nBcc:" not in header_block
        assert mail.recipients == (message["To"],)


@pytest.mark.parametrize(
    "name",
    [
        'Contoso "Cloud" Services',
        "Contoso \\ Cloud, Inc.",
        'Evil" <x@evil.example>, "Y',
        "Contoso\r\nBcc: evil@x",
    ],
)
def test_the_partner_name_is_safely_quoted(
    config_data: dict[str, Any],
    make_config: Callable[[dict[str, Any]], Config],
    templates: Templates,
    customer_message: ParsedMessage,
    name: str,
) -> None:
    config_data["partner"]["name"] = name
    config = make_config(config_data)

    message = parsed(acknowledgement(config, templates, customer_message, "adatum"))

    [from_address] = message["From"].addresses
    assert from_address.addr_spec == "support@contoso.example"
    assert from_address.display_name == " ".join(name.split())
    assert message.get_all("Bcc") is None


# --- durations told to customers ---


@pytest.mark.parametrize(
    ("duration", "language", "text"),
    [
        (timedelta(hours=4), "en", "4 hours"),
        (timedelta(hours=1), "en", "1 hour"),
        (timedelta(hours=4), "nl", "4 uur"),
        (timedelta(days=1), "nl", "1 dag"),
        (timedelta(minutes=90), "en", "90 minutes"),
        (timedelta(minutes=90), "nl", "90 minuten"),
        (timedelta(seconds=90), "en", "90 s"),
    ],
)
def test_describe_duration(duration: timedelta, language: str, text: str) -> None:
    assert sender.describe_duration(duration, language) == text


@pytest.mark.parametrize(
    "subject",
    [
        "[CONTOSO#12] New ticket from User 00001: Outlook keeps asking for my password (case 1)",
        "a" * 68 + " ",
        " two  spaces " * 12,
        "x" * 200,
    ],
)
def test_a_long_plain_subject_is_folded_not_encoded(subject: str) -> None:
    value = wire.encoded(subject)
    lines = value.split("\r\n ")

    assert "=?" not in value
    assert value.replace("\r\n ", " ") == subject  # unfolding gives it back
    assert all(line.strip() for line in lines[1:])  # RFC 5322: no line of only white space
    assert all(len(line) <= 78 for line in lines if " " in line.strip())  # RFC 5322 §2.1.1


def test_plain_text_that_looks_encoded_is_encoded() -> None:
    value = wire.encoded("=?utf-8?q?not_really?=")
    assert str(make_header(decode_header(value))) == "=?utf-8?q?not_really?="


def test_an_agent_reads_notifications_in_their_own_language(
    config: Config, templates: Templates, customer_message: ParsedMessage
) -> None:
    """Priya names no language: the partner's (English) is hers, though Fabrikam reads Dutch."""
    body = body_of(notification(config, templates, customer_message, agent_index=1))

    assert config.agents[1].language == "en"
    assert body.startswith("New ticket [CONTOSO#42] in queue helpdesk")


def test_a_refused_reply_is_told_to_the_agent_in_their_language(
    config: Config, templates: Templates
) -> None:
    jan, priya = config.agents[0], config.agents[1]
    reason = "its envelope sender is <mallory@outside.example>, not jan@contoso.example"

    dutch = sender.refused_reply(config, templates, jan, ticket(), reason, "envelope")
    english = sender.refused_reply(config, templates, priya, ticket(), reason, "envelope")

    assert (
        parsed(dutch)["Subject"]
        == "[gatewayd] je antwoord op ticket [CONTOSO#42] is niet verzonden"
    )
    assert f"Waarom: {reason}." in body_of(dutch)
    text = body_of(english)
    assert parsed(english)["Subject"] == "[gatewayd] your reply on ticket [CONTOSO#42] was not sent"
    assert "admin-agents" not in text
    first = text.splitlines()[0]
    assert first.endswith("and no command in it was carried out.")  # one sentence, one line


# --- internationalised addresses (RFC 6531, 6532) ---


def test_an_internationalised_requester_is_answered_in_utf8(
    config: Config, templates: Templates, customer_message: ParsedMessage
) -> None:
    mail = sender.acknowledgement(
        config,
        templates,
        ticket(requester="josé@fabrikam.example"),
        customer_message,
        None,
    )

    assert mail.recipients == ("josé@fabrikam.example",)
    assert "\r\nTo: josé@fabrikam.example\r\n".encode() in mail.data


def test_a_non_ascii_domain_alone_goes_out_in_idna(
    config: Config, templates: Templates, customer_message: ParsedMessage
) -> None:
    mail = sender.acknowledgement(
        config,
        templates,
        ticket(requester="jan@bücher.example"),
        customer_message,
        None,
    )

    assert mail.recipients == ("jan@xn--bcher-kva.example",)
    assert b"\r\nTo: jan@xn--bcher-kva.example\r\n" in mail.data and mail.data.isascii()


@pytest.mark.parametrize(
    "address",
    ["jos\u2028é@fabrikam.example", "josé@fab\u202erikam.example", "jo sé@fabrikam.example"],
)
def test_unicode_separators_and_direction_marks_are_never_sendable(address: str) -> None:
    assert not wire.sendable(address)


def test_the_acknowledgement_tells_the_plans_hours_and_the_target_of_the_priority(
    config: Config,
    config_data: dict[str, Any],
    make_config: Callable[[dict[str, Any]], Config],
    templates: Templates,
    customer_message: ParsedMessage,
) -> None:
    fabrikam = {**config_data["customers"][0], "plan": "premium"}
    data = {
        **config_data,
        "customers": [fabrikam, *config_data["customers"][1:]],
        "plans": [
            {"id": "standard", "first_response": {"normal": "4h"}},
            {
                "id": "premium",
                "hours": "24x7",
                "timezone": "UTC",
                "first_response": {"normal": "1h", "high": "30m"},
            },
        ],
    }
    planned = make_config(data)
    urgent = ticket()
    urgent.priority = "high"
    found = customer(planned, "fabrikam")
    body = body_of(sender.acknowledgement(planned, templates, urgent, customer_message, found))
    assert "premium" in body and "24x7 (UTC)" in body
    assert "binnen 30 minuten" in body  # fabrikam reads Dutch
    plain = body_of(sender.acknowledgement(config, templates, urgent, customer_message, found))
    assert "Abonnement" not in plain and "4 uur" in plain  # no [[plans]]: [support] as written


def test_only_the_sender_module_writes_a_from_header() -> None:
    """DESIGN: one module builds outgoing mail and sets From:. A second module that writes the
    header (a tuple ("From", ...) or a literal b"From: " line) fails here."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "gateway"
    writes_from = re.compile(r"""\(\s*["']From["']\s*,|b["']From: """)
    writers = sorted(
        str(path.relative_to(root.parent))
        for path in root.rglob("*.py")
        if writes_from.search(path.read_text(encoding="utf-8"))
    )
    # dkim.py signs a throwaway message to check the key at start-up; it is never sent.
    assert writers == ["gateway/delivery/dkim.py", "gateway/delivery/sender.py"]
