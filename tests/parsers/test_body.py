"""parsers/body.py: the text of a message, and its attachments."""

from __future__ import annotations

import base64

from parsers.message import parse_message

HEAD = b"From: anna@fabrikam.example\r\nTo: support@contoso.example\r\nSubject: x\r\n"


def mime(*parts: bytes, kind: bytes = b"mixed") -> bytes:
    body = b"".join(b"--P\r\n" + part + b"\r\n" for part in parts)
    return (
        HEAD
        + b"MIME-Version: 1.0\r\nContent-Type: multipart/"
        + kind
        + b'; boundary="P"\r\n\r\n'
        + body
        + b"--P--\r\n"
    )


def test_plain_is_preferred_over_html() -> None:
    data = mime(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nPlain words",
        b"Content-Type: text/html\r\n\r\n<p>HTML words</p>",
        kind=b"alternative",
    )

    parsed = parse_message(data)

    assert (parsed.text, parsed.full_text) == ("Plain words", "Plain words")


def test_html_only_mail_keeps_links() -> None:
    data = HEAD + b"Content-Type: text/html\r\n\r\n<p>Open <a href='https://x.example'>this</a></p>"

    assert parse_message(data).text == "Open [this](https://x.example)"


def test_an_attached_mail_is_an_attachment_and_its_text_is_in_full_text() -> None:
    inner = b"From: jan@contoso.example\r\nSubject: old\r\n\r\nThe old mail.\r\n"
    data = mime(
        b"Content-Type: text/plain\r\n\r\nSee the mail below.",
        b"Content-Type: message/rfc822\r\n\r\n" + inner,
    )

    parsed = parse_message(data)

    assert parsed.text == "See the mail below."
    assert "The old mail." in parsed.full_text
    assert [(a.content_type, a.size) for a in parsed.attachments] == [
        ("message/rfc822", len(inner))
    ]


def test_inline_image_vs_attachment_and_file_names() -> None:
    data = mime(
        b"Content-Type: text/plain\r\n\r\nSee attached.",
        b"Content-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64"
        b"\r\n\r\n" + base64.b64encode(b"PNGDATA"),
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''Factuur%20m%C3%A4rz.pdf\r\n\r\n%PDF",
        b"Content-Type: text/plain; name==?utf-8?B?VGhpcyBpcyBhIHRlc3QudHh0?=\r\n"
        b"Content-Disposition: attachment\r\n\r\nfile text",
        b"Content-Type: text/csv; name=report 2026 march.csv\r\n\r\na,b",
    )

    parsed = parse_message(data)

    assert [(a.filename, a.content_type, a.size, a.inline) for a in parsed.attachments] == [
        ("", "image/png", 7, True),
        ("Factuur märz.pdf", "application/pdf", 4, False),
        ("This is a test.txt", "text/plain", 9, False),
        ("report 2026 march.csv", "text/csv", 3, False),
    ]
    assert parsed.text == "See attached."


def test_a_mislabelled_charset_is_read_right() -> None:
    data = HEAD + b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n\x93Quoted\x94 \x80 10"

    assert parse_message(data).text == "“Quoted” € 10"


def test_broken_base64_gives_what_can_be_read() -> None:
    data = (
        HEAD + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64"
        b"\r\n\r\n" + base64.b64encode(b"Hello there") + b"\r\n!!garbage!!"
    )

    assert parse_message(data).text.startswith("Hello there")


def test_an_unquoted_java_boundary() -> None:
    data = (
        HEAD + b"Content-Type: multipart/mixed; boundary=----=_Part_1_2.3\r\n\r\n"
        b"------=_Part_1_2.3\r\nContent-Type: text/plain\r\n\r\nInside.\r\n------=_Part_1_2.3--\r\n"
    )

    assert parse_message(data).text == "Inside."


def test_an_empty_plain_part_beside_the_html_one_gives_the_html_text() -> None:
    # Web forms and some helpdesks send an empty text/plain alternative.
    parsed = parse_message(
        b'From: a@b.example\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n--b\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>The printer is broken.</p>\r\n--b--\r\n"
    )

    assert (parsed.full_text, parsed.text) == ("The printer is broken.", "The printer is broken.")


def test_text_on_both_sides_of_an_inline_image_is_the_body() -> None:
    # Apple Mail: text, an inline image and more text, side by side in a multipart/mixed.
    parsed = parse_message(
        b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\nContent-Disposition: inline\r\n\r\nHere it is:\r\n--b\r\n"
        b'Content-Type: image/png\r\nContent-Disposition: inline; filename="s.png"\r\n\r\nPNG\r\n'
        b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: inline\r\n\r\n"
        b"It fails.\r\n--b--\r\n"
    )

    assert parsed.text == "Here it is:\n\nIt fails."
    assert [a.filename for a in parsed.attachments] == ["s.png"]
