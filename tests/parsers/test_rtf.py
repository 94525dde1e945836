"""parsers/rtf.py: RTF bodies as text, Outlook's encapsulated HTML taken out again."""

from __future__ import annotations

from pathlib import Path

import pytest

from parsers.rtf import rtf_to_plain

TNEF = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "mimekit-tnef"

# What Outlook writes into PR_RTF_COMPRESSED for an HTML mail (MS-OXRTFEX): the HTML tags in
# \*\htmltag groups, RTF-only formatting between \htmlrtf and \htmlrtf0, the originals of
# rewritten tags in \*\mhtmltag groups.
ENCAPSULATED_HTML = rb"""{\rtf1\ansi\ansicpg1252\fromhtml1 \fbidis \deff0{\fonttbl
{\f0\fswiss Arial;}}
{\colortbl\red0\green0\blue0;}
{\*\htmltag19 <html>}{\*\htmltag34 <head>}{\*\htmltag241 <style>p {margin:0}</style>}
{\*\htmltag41 </head>}{\*\htmltag50 <body>}\htmlrtf {\htmlrtf0
{\*\htmltag64 <p>}\htmlrtf {\htmlrtf0 Der Drucker im 3. OG druckt nicht.
 Gr\'fc\'dfe, J\'f6rg\htmlrtf\par}\htmlrtf0
{\*\htmltag72 </p>}
{\*\htmltag64 <p>}{\*\htmltag84 <a href="https://contoso.example/">}\htmlrtf {\field
{\*\fldinst{HYPERLINK "https://contoso.example/"}}{\fldrslt\cf1\ul \htmlrtf0 Portal\htmlrtf }
\htmlrtf0 \htmlrtf }\htmlrtf0 {\*\htmltag92 </a>}{\*\mhtmltag92 </a>} kostet \u8364?10
 \{netto\}{\*\htmltag72 </p>}
{\*\htmltag58 </body>}{\*\htmltag27 </html>}}"""


def test_html_that_outlook_encapsulated_in_rtf_is_rendered() -> None:
    assert rtf_to_plain(ENCAPSULATED_HTML) == (
        "Der Drucker im 3. OG druckt nicht. Grüße, Jörg\n\n"
        "[Portal](https://contoso.example/) kostet €10 {netto}"
    )


def test_text_that_outlook_encapsulated_in_rtf() -> None:
    rtf = rb"{\rtf1\ansi\ansicpg1252\fromtext \deff0{\fonttbl{\f0 Courier;}}Zeile 1\par Zeile 2}"

    assert rtf_to_plain(rtf) == "Zeile 1\nZeile 2"


def test_native_rtf_in_its_codepage() -> None:
    rtf = rb"{\rtf1\ansi\ansicpg1251{\fonttbl{\f0 Arial;}}\f0 \'cf\'f0\'e8\'ed\'f2\'e5\'f0\par}"

    assert rtf_to_plain(rtf).strip() == "Принтер"


@pytest.mark.parametrize(
    "data",
    [b"", b"not rtf", b"{\\rtf1 {{{{{", b"\x00" * 10, b"{\\rtf1\\fromhtml1 \\u99999999999 x}"],
)
def test_broken_rtf_gives_what_it_can_and_never_raises(data: bytes) -> None:
    assert isinstance(rtf_to_plain(data), str)


def test_word_rtf_bodies_of_mimekit() -> None:
    sample = TNEF / "UnitTests/TestData/tnef/christmas/message.rtf"
    if not sample.exists():
        pytest.skip(f"the shared corpus is not at {TNEF}")

    text = rtf_to_plain(sample.read_bytes())

    assert "You've made this a Christmas to remember" in text
    assert "\\" not in text and "{" not in text


def test_a_character_outside_the_bmp_comes_as_a_surrogate_pair() -> None:
    rtf = rb"{\rtf1\ansi\fromtext Thumbs \u-10179?\u-9139? up}"

    assert rtf_to_plain(rtf) == "Thumbs \U0001f44d up"
