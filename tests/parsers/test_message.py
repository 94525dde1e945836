"""parsers/message.py: raw bytes → ParsedMessage, or Unparseable with a reason."""

from __future__ import annotations

import base64
import os
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone

import pytest

from parsers.message import MAX_SUBJECT, MAX_TEXT, ParsedMessage, Unparseable, parse_message
from parsers.mime_tree import MAX_DEPTH

MAIL = (
    b"From: =?utf-8?q?Ren=C3=A9e_Jansen?= <Renee.Jansen@Fabrikam.EXAMPLE>\r\n"
    b"To: Support <SUPPORT@Contoso.example>, other@X.example\r\n"
    b"Cc: Boss@fabrikam.example, support@contoso.example\r\n"
    b"Reply-To: Helpdesk <Helpdesk@Fabrikam.example>\r\n"
    b"Subject: =?utf-8?b?UHJpbnRlciBrYXB1dHQg4oCTIGRyaW5nZW5k?=\r\n"
    b"Message-ID: <abc.123@fabrikam.example>\r\n"
    b"In-Reply-To: <prev@contoso.example>\r\n"
    b"References: <first@contoso.example>\r\n"
    b" <prev@contoso.example>\r\n"
    b"Date: Tue, 03 Mar 2026 10:12:00 +0100\r\n"
    b"\r\n"
    b"Hello, the printer is broken.\r\n"
)


@pytest.fixture
def message() -> ParsedMessage:
    return parse_message(MAIL)


def test_addresses_are_lower_cased(message: ParsedMessage) -> None:
    assert message.from_addr == "renee.jansen@fabrikam.example"
    assert message.to == ("support@contoso.example", "other@x.example")
    assert message.cc == ("boss@fabrikam.example", "support@contoso.example")
    assert message.reply_to == ("helpdesk@fabrikam.example",)


def test_encoded_words_are_decoded(message: ParsedMessage) -> None:
    assert message.from_name == "Renée Jansen"
    assert message.subject == "Printer kaputt – dringend"


def test_message_ids(message: ParsedMessage) -> None:
    assert message.message_id == "<abc.123@fabrikam.example>"
    assert message.in_reply_to == "<prev@contoso.example>"
    assert message.references == ("<first@contoso.example>", "<prev@contoso.example>")


def test_message_ids_without_angle_brackets_are_completed() -> None:
    parsed = parse_message(
        b"From: a@fabrikam.example\r\nMessage-ID: abc@fabrikam.example\r\n"
        b"In-Reply-To: prev@contoso.example\r\nReferences: first@contoso.example, "
        b"<prev@contoso.example>\r\n\r\nx"
    )

    assert parsed.message_id == "<abc@fabrikam.example>"
    assert parsed.in_reply_to == "<prev@contoso.example>"
    assert parsed.references == ("<first@contoso.example>", "<prev@contoso.example>")


def test_date_keeps_its_zone(message: ParsedMessage) -> None:
    assert message.date == datetime(2026, 3, 3, 10, 12, tzinfo=timezone(timedelta(hours=1)))
    assert message.date == datetime(2026, 3, 3, 9, 12, tzinfo=UTC)


def test_a_date_without_zone_is_taken_as_utc() -> None:
    parsed = parse_message(
        b"From: a@fabrikam.example\r\nDate: Tue, 03 Mar 2026 10:12:00 -0000\r\n\r\nx"
    )

    assert parsed.date == datetime(2026, 3, 3, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize("header", [b"", b"Date: yesterday at noon\r\n"], ids=["none", "garbage"])
def test_a_missing_or_bad_date_is_none(header: bytes) -> None:
    assert parse_message(b"From: a@fabrikam.example\r\n" + header + b"\r\nx").date is None


def test_text_and_kind(message: ParsedMessage) -> None:
    assert message.full_text == "Hello, the printer is broken."
    assert message.text == "Hello, the printer is broken."
    assert message.kind == "normal"
    assert message.attachments == ()


def test_headers_are_kept_for_rules(message: ParsedMessage) -> None:
    assert message.header("message-id") == "<abc.123@fabrikam.example>"
    assert message.header("References") == "<first@contoso.example> <prev@contoso.example>"
    assert message.header("X-Missing") is None


def test_a_folded_subject_is_one_line() -> None:
    parsed = parse_message(
        b"From: a@fabrikam.example\r\nSubject: Printer\r\n\tbroken  again\r\n\r\nx"
    )

    assert parsed.subject == "Printer broken again"


def test_lf_only_mail_is_read_like_crlf_mail(message: ParsedMessage) -> None:
    assert parse_message(MAIL.replace(b"\r\n", b"\n")) == message


@pytest.mark.parametrize("data", [b"", b"  \r\n\r\n"], ids=["empty", "blank"])
def test_an_empty_message_is_unparseable(data: bytes) -> None:
    with pytest.raises(Unparseable, match="empty message"):
        parse_message(data)


def test_a_message_without_header_fields_is_all_text() -> None:
    parsed = parse_message(b"just some text, no header at all\r\n\r\nmore text\r\n", "x@a.example")

    assert parsed.full_text == "just some text, no header at all\n\nmore text"
    assert parsed.from_addr == "x@a.example"
    assert "no header fields: the whole message is read as its text" in parsed.defects


SENDERLESS = b"To: support@contoso.example\r\nSubject: help\r\n"


# Real systems fall back when From: has no usable address: Reply-To, then Sender, then the
# envelope sender (or Return-Path, where the delivering server wrote it), and say so.
@pytest.mark.parametrize(
    ("head", "envelope", "sender", "defect"),
    [
        (
            b"Reply-To: Anna <anna@fabrikam.example>\r\nSender: bot@fabrikam.example\r\n",
            None,
            "anna@fabrikam.example",
            "no From header; From taken from Reply-To",
        ),
        (
            b'From: "Millions Lottery"@example.com>\r\nReply-To: claim@lottery.example\r\n',
            None,
            "claim@lottery.example",
            "From header without a usable address ('\"Millions Lottery\"@example.com>'); "
            "From taken from Reply-To",
        ),
        (
            b"From: undisclosed-sender\r\nSender: Bot <Bot@Fabrikam.example>\r\n",
            None,
            "bot@fabrikam.example",
            "From header without a usable address ('undisclosed-sender'); From taken from Sender",
        ),
        (
            b"",
            "Envelope@Fabrikam.example",
            "envelope@fabrikam.example",
            "no From header; From taken from the envelope sender",
        ),
        (
            b"Return-Path: <bounce@fabrikam.example>\r\n",
            None,
            "bounce@fabrikam.example",
            "no From header; From taken from Return-Path",
        ),
        (
            b"",
            "",  # the null sender
            "",
            "no From header, and no other sender address: nobody can be answered",
        ),
    ],
    ids=["reply-to", "broken-from", "sender", "envelope", "return-path", "nothing"],
)
def test_a_mail_without_a_usable_from_falls_back(
    head: bytes, envelope: str | None, sender: str, defect: str
) -> None:
    parsed = parse_message(head + SENDERLESS + b"\r\nThe printer is broken.\r\n", envelope)

    assert parsed.from_addr == sender
    assert parsed.defects == (defect,)
    assert parsed.text == "The printer is broken."
    assert parsed.as_json()["defects"] == [defect]


def test_a_robot_without_an_address_has_no_defect() -> None:
    data = b"From: MAILER-DAEMON <>\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\nx\r\n"

    assert parse_message(data).defects == ()


def test_a_well_formed_mail_has_no_defects(message: ParsedMessage) -> None:
    assert message.defects == ()


@pytest.mark.parametrize(
    ("data", "defect"),
    [
        (
            b"From: a@b.example\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nQapla'\r\n",
            "unknown charset 'x-klingon' in a text/plain part: its text is a guess",
        ),
        (
            b"From: a@b.example\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCaf\xe9\r\n",
            "a text/plain part is not valid utf-8: its text is a guess",
        ),
        (
            b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain\r\n\r\ncut off",
            "MIME multipart not closed: the message may be cut",
        ),
        (
            b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"'
            b"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\nJVBER\r\n--b--\r\n",
            "truncated base64 in a application/pdf part: its end is lost",
        ),
        (
            b"From: a@b.example\r\nSubject: =?x-klingon?q?Qapla'?=\r\n\r\nx\r\n",
            "unknown charset 'x-klingon' in the Subject header: its text is a guess",
        ),
        (
            b"From: a@b.example\r\nDate: last Tuesday\r\n\r\nx\r\n",
            "unreadable Date header 'last Tuesday'",
        ),
        (
            b"From: a@b.example\r\nthis line is no header\r\nSubject: x\r\n\r\nbody\r\n",
            "lines that are not header fields dropped from the header block",
        ),
    ],
    ids=[
        "unknown-charset",
        "bad-bytes",
        "not-closed",
        "truncated-base64",
        "header-charset",
        "date",
        "header-block",
    ],
)
def test_defects_say_what_was_wrong(data: bytes, defect: str) -> None:
    assert defect in parse_message(data).defects


def nested(depth: int) -> bytes:
    """From: and a text part inside `depth` levels of multipart (the message is the first)."""
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(depth - 1)
    )
    closing = b"".join(b"\r\n--b%d--" % n for n in reversed(range(depth - 1)))
    return b"From: a@b.example\r\n" + opening + b"Content-Type: text/plain\r\n\r\ndeep" + closing


def test_nesting_up_to_the_limit_is_read_and_deeper_only_its_header_block() -> None:
    assert parse_message(nested(MAX_DEPTH)).text == "deep"

    deeper = parse_message(nested(MAX_DEPTH + 1))

    assert (deeper.from_addr, deeper.text, deeper.attachments) == ("a@b.example", "", ())
    assert deeper.defects == (
        f"MIME parts nested deeper than {MAX_DEPTH} levels: the body is not read",
    )


def test_ten_thousand_parts_are_all_read() -> None:
    parts = b"".join(
        b'--w\r\nContent-Disposition: attachment; filename="f%d.txt"\r\n\r\nx\r\n' % n
        for n in range(10_000)
    )
    data = b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="w"\r\n\r\n'
    parsed = parse_message(data + b"--w\r\n\r\nSee the files.\r\n" + parts + b"--w--\r\n")

    assert parsed.text == "See the files." and len(parsed.attachments) == 10_000


def test_control_characters_never_reach_header_text() -> None:
    data = b"From: Ann\x00a\x07 <a@b.example>\r\nSubject: Caf\xe9\x00 \x1b[31mred\r\n\r\nhi\r\n"
    parsed = parse_message(data)

    assert (parsed.from_name, parsed.subject) == ("Ann a", "Café [31mred")
    assert all("\x00" not in value for _, value in parsed.headers)


def test_subject_and_text_are_bounded() -> None:
    line = b"x" * 5_000_000
    data = b"From: a@b.example\r\nSubject: " + b"very " * 200_000 + b"\r\n\r\n" + line + b"\r\n"
    parsed = parse_message(data)

    assert len(parsed.subject) == MAX_SUBJECT and parsed.subject.startswith("very very")
    assert len(parsed.text) == len(parsed.full_text) == MAX_TEXT


def test_a_25_MB_message_is_read_in_bounded_memory() -> None:
    encoded = base64.encodebytes(os.urandom(18_500_003)).replace(b"\n", b"\r\n")
    data = (
        b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\n\r\nThe export.\r\n--b\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="export.zip"\r\n\r\n' + encoded + b"--b--\r\n"
    )
    tracemalloc.start()
    try:
        parsed = parse_message(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert [(a.filename, a.size) for a in parsed.attachments] == [("export.zip", 18_500_003)]
    assert peak < 3 * len(data)  # it was 8 times the message, parsed at once and decoded


def test_a_charset_with_a_nul_in_it_does_not_break_the_parser() -> None:
    """Found by test_message_properties: the depth check asked a leaf for its payload, which the
    email package decodes with the declared charset, and a NUL in that name raised ValueError."""
    data = (
        b"From: a@fabrikam.example\r\nTo: support@contoso.example\r\nSubject: x\r\n"
        b'Content-Type: text/plain; charset="x\x00y"\r\n\r\n\xff\xfe body\r\n'
    )

    assert "body" in parse_message(data).text
