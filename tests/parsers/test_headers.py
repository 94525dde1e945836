"""parsers/headers.py: header values and addresses, including the broken forms clients send."""

from __future__ import annotations

import pytest

from parsers.headers import addresses, header_text


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("=?utf-8?q?Caf=C3=A9?= open", "Café open"),
        ("=?iso-8859-1?q?Gr=FC=DFe?=\r\n =?iso-8859-1?q?_aus_Bonn?=", "Grüße aus Bonn"),
        ("=?UTF-8?B?0J/RgNC40LLQtdGC?=", "Привет"),
        ("plain  text\r\n folded", "plain text folded"),
        ("=?unknown-8bit?q?Caf=C3=A9?=", "Café"),  # no usable label: the bytes are UTF-8
        ("=?utf-8?B?not base64!?=", "=?utf-8?B?not base64!?="),  # left as it came
    ],
)
def test_header_text(raw: str, text: str) -> None:
    assert header_text(raw) == text


def test_unencoded_8bit_utf8_rfc6532() -> None:
    raw = "Réunion".encode().decode("ascii", "surrogateescape")

    assert header_text(raw) == "Réunion"


def test_unencoded_8bit_latin1_from_an_old_client() -> None:
    raw = "Formação Verão".encode("latin-1").decode("ascii", "surrogateescape")

    assert header_text(raw) == "Formação Verão"


def test_an_encoded_name_with_a_comma_is_one_address() -> None:
    raw = "=?utf-8?q?de_Vries=2C_Jan?= <jan@contoso.example>, anna@fabrikam.example"

    assert addresses([raw]) == [
        ("de Vries, Jan", "jan@contoso.example"),
        ("", "anna@fabrikam.example"),
    ]


def test_an_encoded_word_inside_quotes() -> None:
    raw = '"=?utf-8?b?0J/RgNC40LLQtdGC?=" <foma@company.example>'

    assert addresses([raw]) == [("Привет", "foma@company.example")]


def test_repeated_headers_are_all_read() -> None:
    assert [a for _, a in addresses(["a@x.example", "b@x.example"])] == [
        "a@x.example",
        "b@x.example",
    ]


def test_garbage_gives_no_address_and_no_error() -> None:
    found = addresses(["<<<@>>>, ;;; ,", "undisclosed-recipients:;"])

    assert all("@" in address for _, address in found)


def test_an_encoded_word_that_decodes_to_a_line_break_is_no_address() -> None:
    # RFC 2047 §5 forbids encoded words in an address; decoded, this one would add a Bcc line.
    word = "".join(f"={byte:02X}" for byte in b"eve\r\nBcc: victim@evil.example")
    raw = f"<=?utf-8?q?{word}?=@fabrikam.example>, anna@fabrikam.example"

    assert addresses([raw]) == [("", "anna@fabrikam.example")]


def test_no_address_without_a_local_part_or_with_two_at_signs() -> None:
    found = addresses(["<Undisclosed-Recipient:@mailman.example;>", "a@b@fabrikam.example"])

    assert found == []


def test_a_name_and_address_without_angle_brackets_stay_one_address() -> None:
    # As the stdlib and imap_tools read it; gateway/delivery/sender.py will not write it.
    assert addresses(["Big Bug bb@bug.example"]) == [("", "Big Bug bb@bug.example")]


def test_an_encoded_line_break_and_colon_in_a_name_do_not_change_the_address() -> None:
    # The encoded text holds "Bcc:" and an address: read as a group, it gave the requester
    # "_evil@outside.example?=" (issue 15).
    raw = "=?utf-8?q?Bob=0D=0ABcc:_evil@outside.example?= <bob@fabrikam.example>"
    ((name, address),) = addresses([raw])
    assert address == "bob@fabrikam.example"
    assert name == "Bob Bcc: evil@outside.example"  # decoded, one line, no control left


def test_an_encoded_name_with_a_colon_is_decoded() -> None:
    raw = "=?utf-8?q?Fabrikam_IT:_Anna_M=C3=BCller?= <anna@fabrikam.example>"
    assert addresses([raw]) == [("Fabrikam IT: Anna Müller", "anna@fabrikam.example")]


def test_adjacent_encoded_words_in_a_name_join() -> None:
    raw = "=?utf-8?b?QW5uYQ==?= =?utf-8?b?IE3DvGxsZXI=?= <a@fabrikam.example>, c@d.example"
    assert addresses([raw]) == [("Anna Müller", "a@fabrikam.example"), ("", "c@d.example")]


def test_utf8_addresses_of_smtputf8_mail_are_read() -> None:
    # RFC 6532: SMTPUTF8 mail carries its addresses in UTF-8, unencoded.
    raw = "Jörg <jörg@bücher.example>, josé@fabrikam.example".encode().decode(
        "ascii", "surrogateescape"
    )

    assert addresses([raw]) == [("Jörg", "jörg@bücher.example"), ("", "josé@fabrikam.example")]
