"""parsers/subjects.py: reply prefixes stripped, the ticket tag found."""

from __future__ import annotations

import pytest

from parsers.subjects import strip_prefixes, ticket_number_in


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("RE: AW: Fwd: SV: VS: Antw: WG: TR: RV: [EXTERNAL] Printer broken", "Printer broken"),
        ("Re: Printer broken", "Printer broken"),
        ("re: RE: Re: Printer broken", "Printer broken"),
        ("Re[2]: Printer broken", "Printer broken"),
        ("Re : Printer broken", "Printer broken"),
        ("Fwd:Printer broken", "Printer broken"),
        ("[EXTERNAL]Re: Printer broken", "Printer broken"),
        ("Antwoord: Doorst: Printer broken", "Printer broken"),
        ("  FW:   Printer broken  ", "Printer broken"),
        ("Re: [CONTOSO#12] Printer broken", "[CONTOSO#12] Printer broken"),
        ("回复：打印机坏了", "打印机坏了"),
        ("RE(2): Rif: I: Printer broken", "Printer broken"),
        ("[EXT] *EXTERNAL* Antwort: Drucker", "Drucker"),
        ("Réf : VL: Tulostin", "Tulostin"),
        ("Reply needed: printer", "Reply needed: printer"),
    ],
)
def test_stacked_prefixes_are_stripped(subject: str, expected: str) -> None:
    assert strip_prefixes(subject) == expected


@pytest.mark.parametrize(
    "subject",
    ["Printer broken", "Reboot needed", "Trouble with Teams", "Response times", "Fwd to sales"],
)
def test_words_that_only_start_like_a_prefix_are_kept(subject: str) -> None:
    assert strip_prefixes(subject) == subject


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        ("[CONTOSO#12] Printer broken", 12),
        ("RE: AW: [CONTOSO#1042] Printer broken", 1042),
        ("Re: [contoso#12] Printer broken", 12),
        ("Re: [Contoso#0042] Printer broken", 42),
        ("Printer broken [CONTOSO#7]", 7),
    ],
)
def test_ticket_number_in_finds_the_tag(subject: str, number: int) -> None:
    assert ticket_number_in(subject, "CONTOSO") == number


@pytest.mark.parametrize(
    "subject",
    [
        "Printer broken",
        "Re: [FABRIKAM#12] Printer broken",
        "Re: CONTOSO#12 Printer broken",
        "Re: [CONTOSO #12] Printer broken",
        "Re: [CONTOSO#] Printer broken",
        "Re: [CONTOSO#1234567890123] Printer broken",
        "Re: [XCONTOSO#12] Printer broken",
    ],
)
def test_ticket_number_in_finds_nothing_else(subject: str) -> None:
    assert ticket_number_in(subject, "CONTOSO") is None


def test_a_tag_with_regex_characters_is_matched_literally() -> None:
    assert ticket_number_in("[A.B#3] x", "A.B") == 3
    assert ticket_number_in("[AxB#3] x", "A.B") is None


def test_case_numbers_of_microsoft_and_other_upstreams() -> None:
    from parsers.subjects import case_numbers

    subject = "RE: [CONTOSO#7] Outage - TrackingID#2411250010001234 - Case 12345678 case 12345678"
    assert case_numbers(subject) == ["TrackingID#2411250010001234", "Case 12345678"]
    assert case_numbers("SR#7654321: mailbox") == ["SR 7654321"]
    assert case_numbers("In case 12 users fail") == []
    assert case_numbers("[CONTOSO#1042] no case here") == []
