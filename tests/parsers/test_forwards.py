"""parsers/forwards.py: the mail a customer forwards, apart from the note above it."""

from __future__ import annotations

import base64

import pytest

from parsers.forwards import forwarded_in, is_forward_subject
from parsers.message import parse_message

BODY = "The printer on floor 3 shows error 50.4."


def mail(subject: str, body: str, content_type: str = "text/plain") -> bytes:
    return (
        "From: Martin Smit <martin@fabrikam.example>\r\nTo: support@contoso.example\r\n"
        f"Subject: {subject}\r\nContent-Type: {content_type}; charset=utf-8\r\n\r\n{body}"
    ).encode()


# Each client's forward, in each language: (separator and header lines, subject prefix).
@pytest.mark.parametrize(
    "separator",
    [
        "---------- Forwarded message ---------\nFrom: Anna Berg <anna@fabrikam.example>\n"
        "Date: Tue, Mar 3, 2026 at 9:55 AM\nSubject: Printer\nTo: <martin@fabrikam.example>\n",
        "---------- Weitergeleitete Nachricht ---------\nVon: Anna Berg <anna@fabrikam.example>\n"
        "Date: Di., 3. März 2026 um 09:55 Uhr\nSubject: Printer\nTo: <joerg@fabrikam.example>\n",
        "---------- Doorgestuurd bericht ---------\nVan: Anna Berg <anna@fabrikam.example>\n"
        "Date: di 3 mrt 2026 om 09:55\nSubject: Printer\nTo: <ilse@fabrikam.example>\n",
        "-------- Weitergeleitete Nachricht --------\nBetreff: \tPrinter\n"
        "Datum: \tTue, 3 Mar 2026 09:55:12 +0100\nVon: \tAnna Berg <anna@fabrikam.example>\n"
        "An: \tJörg <joerg@fabrikam.example>\n",
        "-------- Doorgestuurd bericht --------\nOnderwerp: \tPrinter\n"
        "Datum: \tTue, 3 Mar 2026 09:55:12 +0100\nVan: \tAnna Berg <anna@fabrikam.example>\n",
        "-------- Message transféré --------\nSujet : \tPrinter\n"
        "Date : \tTue, 3 Mar 2026 09:55:12 +0100\nDe : \tAnna Berg <anna@fabrikam.example>\n"
        "Pour : \tCamille <camille@fabrikam.example>\n",
        "-------- Forwarded Message --------\nSubject: \tPrinter\n"
        "Date: \tTue, 3 Mar 2026 09:55:12 +0100\nFrom: \tAnna Berg <anna@fabrikam.example>\n",
        "Begin forwarded message:\n\nFrom: Anna Berg <anna@fabrikam.example>\nSubject: Printer\n"
        "Date: 3 March 2026 at 09:55:12 CET\nTo: Martin <martin@fabrikam.example>\n",
        "Anfang der weitergeleiteten Nachricht:\n\nVon: Anna Berg <anna@fabrikam.example>\n"
        "Betreff: Printer\nDatum: 3. März 2026 um 09:55:12 MEZ\n",
        "Begin doorgestuurd bericht:\n\nVan: Anna Berg <anna@fabrikam.example>\n"
        "Onderwerp: Printer\nDatum: 3 maart 2026 om 09:55:12 CET\n",
        "Début du message réexpédié :\n\nDe: Anna Berg <anna@fabrikam.example>\n"
        "Objet: Printer\nDate: 3 mars 2026 à 09:55:12 UTC+1\n",
    ],
)
def test_a_forward_below_its_separator(separator: str) -> None:
    parsed = parse_message(mail("Fwd: Printer", f"Can you help?\n\n{separator}\n\n{BODY}\n"))

    assert parsed.text == "Can you help?"
    assert parsed.forwarded is not None
    assert parsed.forwarded.from_addr == "anna@fabrikam.example"
    assert parsed.forwarded.subject == "Printer"
    assert parsed.forwarded.text == BODY


# Outlook forwards under the header block its replies have: the subject or the note tells.
@pytest.mark.parametrize(
    ("subject", "note", "block"),
    [
        (
            "FW: Printer",
            "See below, can you help?",
            "From: Anna Berg <anna@fabrikam.example>\nSent: Tuesday, March 3, 2026 9:55 AM\n"
            "To: Martin Smit <martin@fabrikam.example>\nSubject: Printer",
        ),
        (
            "WG: Printer",
            "Siehe unten.",
            "Von: Berg, Anna <anna@fabrikam.example>\nGesendet: Dienstag, 3. März 2026 09:55\n"
            "An: Meier, Jörg <joerg@fabrikam.example>\nBetreff: Printer",
        ),
        (
            "WG: Printer",
            "Zur Info.",
            "-----Ursprüngliche Nachricht-----\nVon: Anna Berg [mailto:anna@fabrikam.example]\n"
            "Gesendet: Dienstag, 3. März 2026 09:55\nAn: Meier, Jörg\nBetreff: Printer",
        ),
        (
            "Doorst: Printer",
            "Zie onderstaand.",
            "Van: Anna Berg <anna@fabrikam.example>\nVerzonden: dinsdag 3 maart 2026 09:55\n"
            "Aan: Ilse de Vries <ilse@fabrikam.example>\nOnderwerp: Printer",
        ),
        (
            "TR: Printer",
            "Pour info.",
            "De : Anna Berg <anna@fabrikam.example>\nEnvoyé : mardi 3 mars 2026 09:55\n"
            "À : Camille Martin <camille@fabrikam.example>\nObjet : Printer",
        ),
        (
            "Printer",  # the client's prefix removed: the note tells
            "FYI, see below",
            "________________________________\nFrom: Anna Berg <anna@fabrikam.example>\n"
            "Sent: Tuesday, March 3, 2026 9:55 AM\nTo: Martin\nSubject: Printer",
        ),
    ],
)
def test_an_outlook_forward(subject: str, note: str, block: str) -> None:
    parsed = parse_message(mail(subject, f"{note}\n\n{block}\n\n{BODY}\n"))

    assert parsed.text == note
    assert parsed.forwarded is not None
    assert parsed.forwarded.from_addr == "anna@fabrikam.example"
    assert parsed.forwarded.subject == "Printer"
    assert parsed.forwarded.text == BODY


def test_a_reply_under_an_outlook_block_forwards_nothing() -> None:
    block = (
        "From: Contoso Support <support@contoso.example>\nSent: Tuesday, March 3, 2026 9:55 AM\n"
        "To: Martin\nSubject: Printer"
    )
    parsed = parse_message(mail("RE: Printer", f"See below, still broken.\n\n{block}\n\nFixed?"))

    assert parsed.text == "See below, still broken."
    assert parsed.forwarded is None


def test_a_forward_without_a_note_has_no_new_text() -> None:
    body = "---------- Forwarded message ---------\nFrom: Anna <anna@fabrikam.example>\n"
    parsed = parse_message(mail("Fwd: Printer", f"{body}Subject: Printer\n\n{BODY}\n"))

    assert parsed.text == ""
    assert parsed.forwarded is not None and parsed.forwarded.text == BODY


def test_the_forwarded_mail_loses_its_own_history() -> None:
    body = (
        "Please help.\n\n-----Original Message-----\nFrom: Anna <anna@fabrikam.example>\n"
        "Sent: Tuesday, March 3, 2026 9:55 AM\nSubject: RE: Printer\n\nStill broken.\n\n"
        "From: Martin <martin@fabrikam.example>\nSent: Monday, March 2, 2026 5:00 PM\n"
        "To: Anna\nSubject: Printer\n\nIs it fixed?\n"
    )
    parsed = parse_message(mail("FW: Printer", body))

    assert parsed.forwarded is not None and parsed.forwarded.text == "Still broken."


def test_an_outlook_web_html_forward_keeps_the_forwarded_mail() -> None:
    # Outlook on the web puts the forwarded mail below divRplyFwdMsg, where a reply's history is.
    html = (
        "<html><body><div>Can you help Anna?</div><hr>"
        '<div id="divRplyFwdMsg"><b>From:</b> Anna Berg &lt;anna@fabrikam.example&gt;<br>'
        "<b>Sent:</b> Tuesday, March 3, 2026 9:55 AM<br><b>To:</b> Martin<br>"
        f"<b>Subject:</b> Printer</div><br><div>{BODY}</div></body></html>"
    )
    parsed = parse_message(mail("FW: Printer", html, "text/html"))

    assert parsed.text == "Can you help Anna?"
    assert parsed.forwarded is not None
    assert parsed.forwarded.from_addr == "anna@fabrikam.example"
    assert parsed.forwarded.text == BODY


def test_an_attached_mail_is_the_forwarded_mail() -> None:
    data = (
        b"From: Martin <martin@fabrikam.example>\r\nSubject: Fwd: Printer\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nFYI\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: Anna Berg <Anna@Fabrikam.example>\r\nSubject: Printer\r\n"
        b"Date: Tue, 3 Mar 2026 09:55:12 +0100\r\n\r\n" + BODY.encode() + b"\r\n--b--\r\n"
    )
    parsed = parse_message(data)

    assert parsed.text == "FYI"
    assert parsed.forwarded is not None
    assert parsed.as_json()["forwarded"] == {
        "from": "anna@fabrikam.example",
        "from_name": "Anna Berg",
        "date": "Tue, 3 Mar 2026 09:55:12 +0100",
        "subject": "Printer",
        "text": BODY,
    }


def test_a_plain_mail_forwards_nothing() -> None:
    parsed = parse_message(mail("Printer", f"{BODY}\n\nFYI: it started on Monday."))

    assert parsed.forwarded is None
    assert parsed.as_json()["forwarded"] is None


@pytest.mark.parametrize(
    "subject", ["FW: x", "Fwd: x", "WG: x", "TR: x", "Doorst: x", "[EXT] FW: x"]
)
def test_forward_subjects(subject: str) -> None:
    assert is_forward_subject(subject)


@pytest.mark.parametrize("subject", ["RE: FW: x", "AW: x", "Printer", "Firewall: x"])
def test_not_forward_subjects(subject: str) -> None:
    assert not is_forward_subject(subject)


def test_a_quoted_forward_is_not_this_mail_s_forward() -> None:
    text = "Thanks.\n\n> ---------- Forwarded message ---------\n> From: Anna <anna@x.example>\n"

    assert forwarded_in(text, "Re: x") is None


def test_an_attached_mail_in_base64_is_decoded_first() -> None:
    # RFC 2046 §5.2.1 forbids it, but clients base64-encode attached mails.
    inner = b"From: Anna <anna@fabrikam.example>\r\nSubject: Printer\r\n\r\n" + BODY.encode()
    data = (
        b"From: Martin <martin@fabrikam.example>\r\nSubject: Fwd: Printer\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n'
        b"\r\nFYI\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\n" + base64.encodebytes(inner) + b"--b--\r\n"
    )
    parsed = parse_message(data)

    assert parsed.forwarded is not None
    assert (parsed.forwarded.from_addr, parsed.forwarded.text) == ("anna@fabrikam.example", BODY)


def test_a_bounce_forwards_nothing() -> None:
    # A delivery report carries the mail that bounced; no person forwarded it.
    data = (
        b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n"
        b"I could not deliver your mail.\r\n\r\n---------- Forwarded message ---------\r\n"
        b"From: Martin <martin@fabrikam.example>\r\nSubject: Printer\r\n\r\nHello\r\n"
    )
    parsed = parse_message(data)

    assert parsed.kind == "bounce" and parsed.forwarded is None


def test_a_forward_of_a_forward_gives_the_mail_with_the_problem() -> None:
    body = (
        "Can you help?\n\nFrom: Anna <anna@fabrikam.example>\nSent: Tuesday, March 3, 2026 10:00\n"
        "To: Martin\nSubject: FW: Printer\n\nFYI\n\nFrom: Piet <piet@fabrikam.example>\n"
        "Sent: Tuesday, March 3, 2026 9:55 AM\nTo: Anna\nSubject: Printer\n\n" + BODY + "\n"
    )
    parsed = parse_message(mail("FW: FW: Printer", body))

    assert parsed.text == "Can you help?"
    assert parsed.forwarded is not None
    assert (parsed.forwarded.from_addr, parsed.forwarded.text) == ("piet@fabrikam.example", BODY)


def test_a_forwarded_reply_keeps_its_own_text() -> None:
    body = (
        "Please look.\n\nFrom: Anna <anna@fabrikam.example>\nSent: Tuesday, March 3, 2026 10:00\n"
        "To: Martin\nSubject: RE: Printer\n\nStill broken, see the error below.\n\n"
        "From: Martin <martin@fabrikam.example>\nSent: Monday, March 2, 2026 5:00 PM\n"
        "To: Anna\nSubject: Printer\n\nDoes it work?\n"
    )
    parsed = parse_message(mail("FW: RE: Printer", body))

    assert parsed.forwarded is not None
    assert parsed.forwarded.text == "Still broken, see the error below."
