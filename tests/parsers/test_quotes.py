"""parsers/quotes.py: the new text of a reply, without quoted history and signature."""

from __future__ import annotations

from pathlib import Path

import pytest

from parsers.quotes import new_text

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def test_plain_text_is_kept_whole() -> None:
    text = "Hello,\n\nThe printer is broken.\nCan you help?"

    assert new_text(text) == text


def test_on_wrote_line_and_quoted_lines_are_stripped() -> None:
    text = (
        "Restarting helped, thanks!\n"
        "\n"
        "On Tue, 3 Mar 2026 at 10:12, Contoso Support <support@contoso.example> wrote:\n"
        "> Please restart the printer.\n"
        ">\n"
        "> Kind regards\n"
    )

    assert new_text(text) == "Restarting helped, thanks!"


def test_a_wrote_line_wrapped_over_two_lines() -> None:
    text = (
        "Thanks.\n\nOn Tue, 3 Mar 2026 at 10:12, Contoso Support <support@contoso.example>\n"
        "wrote:\n> Please restart.\n"
    )

    assert new_text(text) == "Thanks."


def test_outlook_from_sent_block() -> None:
    text = (
        "That worked.\n"
        "\n"
        "From: Contoso Support <support@contoso.example>\n"
        "Sent: Tuesday, March 3, 2026 10:12 AM\n"
        "To: Anna <anna@fabrikam.example>\n"
        "Subject: [CONTOSO#12] Printer broken\n"
        "\n"
        "Please restart the printer.\n"
    )

    assert new_text(text) == "That worked."


def test_outlook_block_in_dutch_below_a_rule() -> None:
    text = (
        "Het werkt weer.\n"
        "\n"
        "________________________________\n"
        "Van: Contoso Support <support@contoso.example>\n"
        "Verzonden: dinsdag 3 maart 2026 10:12\n"
        "\n"
        "Herstart de printer.\n"
    )

    assert new_text(text) == "Het werkt weer."


def test_original_message_separator() -> None:
    text = (
        "See below.\n"
        "-----Original Message-----\n"
        "From: Contoso Support\n"
        "Please restart the printer.\n"
    )

    assert new_text(text) == "See below."


def test_dutch_op_schreef_line() -> None:
    text = (
        "Dank, het werkt.\n"
        "\n"
        "Op 3 mrt. 2026 om 10:12 schreef Jan <jan@contoso.example>:\n"
        "> Herstart.\n"
    )

    assert new_text(text) == "Dank, het werkt."


def test_dutch_op_schreef_line_with_a_full_name_and_address() -> None:
    text = (
        "Dank, het werkt weer.\n"
        "\n"
        "Op di 3 mrt. 2026 om 10:12 schreef Jan de Vries <jan.de.vries@contoso.example>:\n"
        "> Herstart de printer.\n"
    )

    assert new_text(text) == "Dank, het werkt weer."


def test_dutch_corpus_reply_with_a_wrapped_op_schreef_line() -> None:
    path = CORPUS / "crisp-email-reply-parser" / "test" / "fixtures" / "email_8.txt"
    if not path.exists():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    text = path.read_bytes().decode("utf-8").replace("\r\n", "\n")

    result = new_text(text)

    assert result.endswith(
        "et mollis ligula rutrum quis. Fusce sed odio id arcu varius aliquet nec nec nibh."
    )
    assert "schreef" not in result


def test_signature_dash_dash_space() -> None:
    text = "Please call me back.\n-- \nAnna de Boer\nFabrikam BV | +31 20 555 0199"

    assert new_text(text) == "Please call me back."


def test_sent_from_my_iphone() -> None:
    text = "The printer is on fire.\n\nSent from my iPhone\n\nOn Tue, Jan wrote:\n> Hi"

    assert new_text(text) == "The printer is on fire."


def test_a_from_line_in_ordinary_text_is_kept() -> None:
    text = (
        "Our newsletter arrives twice.\n"
        "From: marketing@fabrikam.example is the sender.\n"
        "\n"
        "Can you check the mail flow rules?"
    )

    assert new_text(text) == text


def test_inline_answers_keep_the_questions_they_answer() -> None:
    # Interleaved posting: without the quoted questions the answers mean nothing to an agent.
    text = "> Which printer?\nThe one on floor 2.\n> Since when?\nSince Monday."

    assert new_text(text) == text


def test_quoted_lines_after_the_new_text_are_dropped() -> None:
    text = "Since Monday.\n\n> Since when is it broken?\n> Which printer?"

    assert new_text(text) == "Since Monday."


def test_text_under_a_phone_signature_is_the_old_mail() -> None:
    # Outlook for Android quotes without a header: the signature ends the new text.
    text = "Yes, tomorrow.\n\nSent from my Galaxy\n\nEarlier question about the printer\n"

    assert new_text(text) == "Yes, tomorrow."


def test_sent_from_my_in_prose_is_not_a_signature() -> None:
    text = "Here it is.\n\nSent from my desk, is much easier than my phone."

    assert new_text(text) == text


@pytest.mark.parametrize(
    "header",
    [
        "ср, 30 апр. 2025 г. в 15:19, Jan <jan@contoso.example>:",
        "pe 20. lokakuuta 2017 klo 17.50 Jan\n<jan@contoso.example> kirjoitti:",
        "-------- Oprindelig besked --------",
        "Am 03.02.2016 3:35 nachm. schrieb Jan <jan@contoso.example>:",
        "Le 3 mars 2026 à 10:12, Jan <jan@contoso.example> a écrit :",
        "El 3 mar 2026, a las 10:12, Jan <jan@contoso.example> escribió:",
        "Il giorno 3 mar 2026, alle ore 10:12, Jan <jan@contoso.example> ha scritto:",
        "Em 3 de mar. de 2026, às 10:12, Jan <jan@contoso.example> escreveu:",
        "Den 3 mars 2026 kl. 10:12 skrev Jan <jan@contoso.example>:",
        "W dniu 3.03.2026 o 10:12, Jan <jan@contoso.example> pisze:",
        "2026/03/03 10:12、Jan <jan@contoso.example> のメッセージ:",
    ],
)
def test_quote_headers_in_many_languages(header: str) -> None:
    text = f"New text.\n\n{header}\n> old text\n> more old text\n"

    assert new_text(text) == "New text."


# Outlook's separators and header blocks (desktop, web, mobile), Samsung's and Thunderbird's
# "original message" rules, in each language the customers write.
@pytest.mark.parametrize(
    "history",
    [
        "-------- Original-Nachricht --------\nBetreff: Drucker\nDatum: 03.03.2026 10:12\n"
        "Von: Contoso <support@contoso.example>\nAn: joerg@fabrikam.example",
        "-----Ursprüngliche Nachricht-----\nVon: Contoso [mailto:support@contoso.example]\n"
        "Gesendet: Dienstag, 3. März 2026 10:12\nAn: Meier, Jörg\nBetreff: Drucker",
        "-----Oorspronkelijk bericht-----\nVan: Contoso [mailto:support@contoso.example]\n"
        "Verzonden: dinsdag 3 maart 2026 10:12\nAan: Ilse\nOnderwerp: Printer",
        "-------- Message d'origine --------\nDe : Contoso <support@contoso.example>\n"
        "Date : 03/03/2026 10:12 (GMT+01:00)\nÀ : Camille\nObjet : Imprimante",
        "-------- Message d’origine --------\nDe : Contoso <support@contoso.example>",
        "-------- Original message --------\nFrom: Contoso <support@contoso.example>\n"
        "Date: 03/03/2026 10:12 (GMT+01:00)\nTo: Martin\nSubject: Printer",
        "Von: Contoso Support <support@contoso.example>\nGesendet: Dienstag, 3. März 2026 10:12\n"
        "An: Jörg Meier <joerg@fabrikam.example>\nCc: it@fabrikam.example\nBetreff: Drucker",
        "De : Contoso Support <support@contoso.example>\nEnvoyé : mardi 3 mars 2026 10:12\n"
        "À : Camille Martin\nObjet : Imprimante",
        "Van: Contoso Support <support@contoso.example>\nVerzonden: dinsdag 3 maart 2026 10:12\n"
        "Aan: Ilse de Vries\nOnderwerp: Printer",
        "*De :* Contoso <support@contoso.example>\n*Envoyé :* mardi 3 mars 2026 10:12\n"
        "*À :* Camille\n*Objet :* Imprimante",
        'Gesendet: Dienstag, 03. März 2026 um 10:12 Uhr\nVon: "Contoso" <support@contoso.example>\n'
        "An: joerg@gmx.example\nBetreff: Konto",  # GMX and WEB.DE
        "Von:\tContoso <support@contoso.example>\nAn:\tJörg Meier\nDatum:\t03.03.2026 10:12\n"
        "Betreff:\tDrucker",  # Lotus Notes
        "From: Contoso <support@contoso.example> Sent: Tuesday, March 3, 2026 10:12 AM "
        "To: Martin Subject: Printer",  # the block on one line, from a converter of its HTML
        "Von: Contoso <support@contoso.example> Gesendet: Dienstag, 3. März 2026 10:12 "
        "An: Jörg Betreff: Drucker",
        "Am Dienstag, 3. März 2026, 10:12:00 MEZ hat Contoso <support@contoso.example> "
        "Folgendes geschrieben:",  # Yahoo
        "Am 3. März 2026 um 10:12 hat Contoso <support@contoso.example> geschrieben:",
        "Op 3 mrt. 2026 om 10:12 heeft Contoso <support@contoso.example> geschreven:",
        "03.03.2026 10:12 - Contoso Support schrieb:",  # OTRS and Znuny
        "03/03/2026 10:12 - Contoso Support wrote:",
        "##- Please type your reply above this line -##",  # Zendesk
        "##- Bitte geben Sie Ihre Antwort über dieser Zeile ein. -##",
    ],
)
def test_history_below_a_separator_or_header_block_is_cut(history: str) -> None:
    text = f"The new text.\n\n{history}\n\nThe old mail, which is not quoted.\n"

    assert new_text(text) == "The new text."


@pytest.mark.parametrize(
    "signature",
    [
        "Outlook für iOS beziehen<https://aka.ms/o0ukef>",
        "Outlook voor Android downloaden<https://aka.ms/AAb9ysg>",
        "Get Outlook for Android<https://aka.ms/ghei36>",
        "Verzonden vanuit Mail voor Windows",
        "Gesendet von Outlook<http://aka.ms/weboutlook>",  # Outlook on the web
        "Gesendet mit der WEB.DE Mail App",
        "Verzonden vanaf mijn iPhone",
        "Verstuurd vanaf mijn iPhone",
        "Von meinem iPhone gesendet",
        "Von meinem Samsung Galaxy Smartphone gesendet.",
        "Envoyé de mon iPhone",
        "Envoyé depuis mon appareil Galaxy",
        "Sent from my Galaxy",
        "Sent via the Samsung Galaxy S21 5G, an AT&T 5G smartphone",
        "Sent from my Verizon, Samsung Galaxy smartphone",
    ],
)
def test_mobile_signatures_end_the_new_text(signature: str) -> None:
    text = f"Yes, tomorrow.\n\n{signature}\n\nThe old mail, which is not quoted.\n"

    assert new_text(text) == "Yes, tomorrow."


def test_a_sentence_that_starts_like_a_phone_signature_is_text() -> None:
    text = (
        "De back-up is mislukt.\n\nDe informatie in dit bericht is vertrouwelijk. De informatie\n"
        "verzonden met dit bericht is uitsluitend bestemd voor de geadresseerde."
    )

    assert new_text(text) == text


def test_a_signature_with_a_notice_below_it_is_cut_at_its_delimiter() -> None:
    text = (
        "Seit heute kommen keine Mails an.\n\nGruß\nJörg\n\n-- \nFabrikam GmbH\n"
        "Bitte beachten Sie die neuen Rufnummern ab dem 1. April: +49 30 7654321\n"
    )

    assert new_text(text) == "Seit heute kommen keine Mails an.\n\nGruß\nJörg"


def test_an_undelimited_company_block_and_disclaimer_stay() -> None:
    text = (
        "The backup failed.\n\nKind regards,\nMartin Smit\nFabrikam Ltd, 1 High Street\n\n"
        "This e-mail is confidential. If you received it in error, please delete it."
    )

    assert new_text(text) == text


def test_a_helpdesk_mail_under_its_reply_above_line_is_the_new_text() -> None:
    text = "##- Please type your reply above this line -##\n\nThe migration is on Friday.\n"

    assert new_text(text) == "The migration is on Friday."


@pytest.mark.parametrize("signoff", ["-Martin", "- Martin", "Groet, Ilse", "Gruß\nJörg"])
def test_sign_offs_are_new_text(signoff: str) -> None:
    text = f"That did it, thanks.\n\n{signoff}"

    assert new_text(f"{text}\n\nOn Tue, 3 Mar 2026, Jan <jan@contoso.example> wrote:\n> x") == text


def test_prose_about_writing_is_no_quote_header() -> None:
    text = "Am Montag habe ich Ihnen geschrieben:\n\nDer Drucker ist kaputt.\nBitte helfen."

    assert new_text(text) == text


def test_an_underlined_heading_is_text_not_a_signature_separator() -> None:
    text = (
        "Two problems:\n\nPrinter\n-------\nShows error 50.4.\n\nScanner\n=======\n"
        "Sends no mail.\n\nThanks\nAnna"
    )

    assert new_text(f"{text}\n-- \nAnna Berg | Fabrikam") == text


def test_a_dash_sign_off_above_a_mailing_list_footer_goes_with_the_footer() -> None:
    post = (
        "What is the best way to clear a bucket?\n\n-Abhishek Kona\n\n\n"
        + "_" * 47
        + "\nriak-users mailing list\nriak-users@lists.example\n"
        "http://lists.example/mailman/listinfo/riak-users\n"
    )
    assert new_text(post) == "What is the best way to clear a bucket?"


def test_a_dash_sign_off_above_an_outlook_rule_stays() -> None:
    reply = (
        "Friday works for me.\n\n-Martin\n\n" + "_" * 32 + "\nFrom: Contoso Support\n"
        "Sent: Tuesday\nTo: Martin\nSubject: Laptop\n\nWhen can we pick it up?\n"
    )
    assert new_text(reply) == "Friday works for me.\n\n-Martin"
