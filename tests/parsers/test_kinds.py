"""parsers/kinds.py: a person, an auto-responder, a bounce, or a mailing list."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from parsers.bounces import bounced_recipients
from parsers.kinds import classify
from parsers.message import parse_message

PERSON = b"From: anna@fabrikam.example\r\nTo: support@contoso.example\r\nSubject: Printer\r\n"

DSN = (
    b"From: MAILER-DAEMON@mx.fabrikam.example (Mail Delivery System)\r\n"
    b"To: support@contoso.example\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
    b"\r\n"
    b"--B\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"Your message could not be delivered.\r\n"
    b"--B\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns; mx.fabrikam.example\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; Gone@Fabrikam.example\r\n"
    b"Original-Recipient: rfc822; alias@fabrikam.example\r\n"
    b"Action: failed\r\n"
    b"Status: 5.1.1\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822;left@fabrikam.example\r\n"
    b"Action: failed\r\n"
    b"Status: 5.1.1\r\n"
    b"--B\r\n"
    b"Content-Type: text/rfc822-headers\r\n"
    b"\r\n"
    b"From: support@contoso.example\r\n"
    b"--B--\r\n"
)


def message_of(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def kind_of(headers: bytes, base: bytes = PERSON) -> str:
    message = message_of(base + headers + b"\r\nHello\r\n")
    return classify(message, [(name, str(value)) for name, value in message.items()])


def test_a_person_is_normal() -> None:
    assert kind_of(b"") == "normal"


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (b"Auto-Submitted: auto-replied\r\n", "auto_reply"),
        (b"Auto-Submitted: auto-generated\r\n", "auto_reply"),
        (b"Auto-Submitted: Auto-Replied (vacation)\r\n", "auto_reply"),
        (b"Auto-Submitted: no\r\n", "normal"),
        (b"Auto-Submitted: No\r\n", "normal"),
        (b"X-Autoreply: yes\r\n", "auto_reply"),
        (b"X-Autorespond: vacation\r\n", "auto_reply"),
        (b"Precedence: bulk\r\n", "auto_reply"),
        (b"Precedence: junk\r\n", "auto_reply"),
        (b"Precedence: auto_reply\r\n", "auto_reply"),
        (b"Precedence: first-class\r\n", "normal"),
        (b"List-Id: Fabrikam IT <it.lists.fabrikam.example>\r\n", "list"),
        (b"Precedence: list\r\n", "list"),
        (b"Return-Path: <>\r\n", "bounce"),
    ],
)
def test_kind_by_header(header: bytes, kind: str) -> None:
    assert kind_of(header) == kind


def test_auto_submitted_no_with_a_comment_is_a_person() -> None:
    assert kind_of(b"Auto-Submitted: no (sent by a person)\r\n") == "normal"


def test_exchange_out_of_office() -> None:
    headers = (
        b"X-Auto-Response-Suppress: All\r\n"
        b"X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent\r\n"
    )

    assert kind_of(headers) == "auto_reply"


def test_x_auto_response_suppress_alone_is_a_person() -> None:
    # Outlook sets it on ordinary mail too, e.g. on meeting requests.
    assert kind_of(b"X-Auto-Response-Suppress: All\r\n") == "normal"


def test_the_first_of_repeated_headers_counts() -> None:
    assert kind_of(b"Auto-Submitted: no\r\nAuto-Submitted: auto-replied\r\n") == "normal"


def test_mail_from_the_mailer_daemon_is_a_bounce() -> None:
    base = b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.fabrikam.example>\r\nSubject: x\r\n"

    assert kind_of(b"", base=base) == "bounce"


def test_dsn_is_a_bounce_with_its_final_recipients() -> None:
    message = message_of(DSN)

    assert classify(message, [(k, str(v)) for k, v in message.items()]) == "bounce"
    assert list(bounced_recipients(message)) == ["gone@fabrikam.example", "left@fabrikam.example"]


def test_dsn_kind_and_recipients_through_parse_message() -> None:
    parsed = parse_message(DSN)

    assert parsed.kind == "bounce"
    assert parsed.bounced_recipients == ("gone@fabrikam.example", "left@fabrikam.example")


def test_original_recipient_is_used_without_final_recipient() -> None:
    dsn = DSN.replace(b"Final-Recipient: rfc822;left@", b"Original-Recipient: rfc822;left@")

    assert list(bounced_recipients(message_of(dsn))) == [
        "gone@fabrikam.example",
        "left@fabrikam.example",
    ]


def test_no_bounced_recipients_in_ordinary_mail() -> None:
    assert (
        list(bounced_recipients(message_of(PERSON + b"\r\nFinal-Recipient: rfc822; x@y\r\n"))) == []
    )


@pytest.mark.parametrize(
    "subject",
    [
        b"Automatic reply: Printer broken",
        b"Out of Office: Printer broken",
        b"Abwesenheitsnotiz: Drucker",
        b"Automatisch antwoord: Printer kapot",
        b"R\xc3\xa9ponse automatique : Imprimante",
        b"Autosvar: Skrivare",
    ],
)
def test_out_of_office_subjects(subject: bytes) -> None:
    base = b"From: anna@fabrikam.example\r\nTo: support@contoso.example\r\nSubject: " + subject
    message = message_of(base + b"\r\n\r\nAway.\r\n")

    assert classify(message, [(k, str(v)) for k, v in message.items()]) == "auto_reply"


def test_an_auto_reply_from_the_null_sender_is_not_a_bounce() -> None:
    # RFC 3834 §3.3 asks auto-responders to send from the null sender, like bounces.
    assert kind_of(b"Return-Path: <>\r\nAuto-Submitted: auto-replied\r\n") == "auto_reply"


def test_a_bounce_marked_auto_replied_is_a_bounce() -> None:
    # Exim marks its bounces "Auto-Submitted: auto-replied".
    base = b"From: Mail Delivery System <Mailer-Daemon@mx.example>\r\nSubject: Warning\r\n"

    assert kind_of(b"Auto-Submitted: auto-replied\r\n", base=base) == "bounce"
