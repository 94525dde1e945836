"""parsers/envelope.py: the envelope sender under BATV and SRS rewriting."""

from __future__ import annotations

import pytest

from parsers.envelope import original_sender


@pytest.mark.parametrize(
    ("rewritten", "original"),
    [
        ("jan@contoso.example", "jan@contoso.example"),
        ("<Jan@Contoso.Example>", "jan@contoso.example"),
        ("prvs=0123456789=jan@contoso.example", "jan@contoso.example"),  # BATV
        ("PRVS=4a1f0e2b3c=jan@contoso.example", "jan@contoso.example"),
        ("msprvs1=18212abcD=jan@contoso.example", "jan@contoso.example"),
        ("btv1==0a1b2c3d4e5==jan@contoso.example", "jan@contoso.example"),  # Barracuda
        ("SRS0=HHHH=TT=contoso.example=jan@forwarder.example", "jan@contoso.example"),
        ("SRS0+HHHH=TT=contoso.example=jan@forwarder.example", "jan@contoso.example"),
        ("SRS0=HHHH=TT=contoso.example=jan=smit@forwarder.example", "jan=smit@contoso.example"),
        (
            "SRS1=HHHH=first.example==HHHH=TT=contoso.example=jan@second.example",
            "jan@contoso.example",
        ),
        ("SRS0=HHHH=TT=contoso.example=prvs=0123456789=jan@fw.example", "jan@contoso.example"),
        ("", ""),
        ("not-an-address", "not-an-address"),
        ("prvs@contoso.example", "prvs@contoso.example"),
    ],
)
def test_original_sender(rewritten: str, original: str) -> None:
    assert original_sender(rewritten) == original
