"""parsers/closings.py: the closing block a sender's mails all end with, found by comparing
with their earlier mails (as Zammad does), is cut; sign-offs stay."""

from __future__ import annotations

from parsers.closings import without_closing

BLOCK = (
    "Fabrikam GmbH | Musterstraße 1 | 12345 Berlin\nTel. +49 30 1234567\n"
    "Bitte beachten Sie unsere neuen Rufnummern ab dem 1. April."
)
EARLIER = f"Der Drucker druckt nicht.\n\nMit freundlichen Grüßen\nJörg Meier\n{BLOCK}"


def test_the_block_an_earlier_mail_ended_with_is_cut_below_the_sign_off() -> None:
    text = f"Er druckt wieder, danke!\n\nMit freundlichen Grüßen\nJörg Meier\n{BLOCK}\n"

    assert without_closing(text, [EARLIER]) == (
        "Er druckt wieder, danke!\n\nMit freundlichen Grüßen\nJörg Meier"
    )


def test_a_different_sign_off_above_the_block_keeps_its_name() -> None:
    text = f"Er druckt wieder.\n\nGruß\nJörg Meier\n{BLOCK}"

    assert without_closing(text, [EARLIER]) == "Er druckt wieder.\n\nGruß\nJörg Meier"


def test_spacing_differences_do_not_matter() -> None:
    spaced = BLOCK.replace(" | ", "  |  ").replace("\n", "\n\n")
    text = f"Danke.\n\nMit freundlichen Grüßen\nJörg Meier\n\n{spaced}"

    assert without_closing(text, [EARLIER]) == "Danke.\n\nMit freundlichen Grüßen\nJörg Meier"


def test_nothing_is_cut_without_an_earlier_mail_ending_alike() -> None:
    text = f"Er druckt wieder.\n\nGruß\nJörg\n{BLOCK}"

    assert without_closing(text, []) == text
    assert without_closing(text, ["Ganz andere Mail.\n\nGruß\nJörg"]) == text


def test_two_lines_in_common_are_no_closing_block() -> None:
    earlier = "Frage.\n\nTel. +49 30 1234567\nFabrikam GmbH"

    text = "Antwort.\n\nTel. +49 30 1234567\nFabrikam GmbH"
    assert without_closing(text, [earlier]) == text


def test_a_mail_that_is_only_the_block_keeps_it() -> None:
    assert without_closing(BLOCK, [EARLIER]) == BLOCK


def test_a_repeated_request_is_not_a_closing_block() -> None:
    # The same three lines end both mails, but nothing of this mail's own is above them.
    request = "The printer on floor 3\nshows error 50.4\nand prints nothing."

    assert without_closing(request, [f"Hello,\n\n{request}"]) == request


def test_repeated_sentences_without_a_signature_s_marks_stay() -> None:
    repeated = "Please hurry.\nWe cannot work.\nThe whole office waits."
    text = f"Any news?\n\n{repeated}"

    assert without_closing(text, [f"The printer is broken.\n\n{repeated}"]) == text
