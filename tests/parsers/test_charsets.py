"""parsers/charsets.py: declared charset, then the mislabels clients make, then detection."""

from __future__ import annotations

import pytest

from parsers.charsets import codec_for, decode


def test_the_declared_charset_is_used() -> None:
    assert decode("Grüße".encode("iso-8859-15"), "iso-8859-15") == "Grüße"


def test_windows_1252_sent_as_iso_8859_1() -> None:
    # Outlook: “quotes” and € are 0x93/0x94/0x80, which ISO-8859-1 has as control codes.
    assert decode(b"\x93Hi\x94 \x80 5", "iso-8859-1") == "“Hi” € 5"


def test_utf8_under_a_western_label() -> None:
    assert decode("Envoyé par".encode(), "us-ascii") == "Envoyé par"


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("ks_c_5601-1987", "안녕하세요"),
        ("gb2312", "你好，世界"),
        ("shift_jis", "こんにちは①"),  # ① is only in Windows' Shift-JIS (cp932)
    ],
)
def test_outlook_labels_for_east_asian_charsets(label: str, text: str) -> None:
    encoded = text.encode(codec_for(label) or "utf-8")

    assert decode(encoded, label) == text


def test_an_unknown_label_falls_back_to_detection() -> None:
    # Detection needs a sentence or two; one line of Cyrillic is too little to tell KOI8-R.
    text = (
        "Добрый день, уважаемые коллеги! Как ваши дела сегодня? Мы получили ваше письмо "
        "о проблеме с принтером и скоро ответим. Спасибо за терпение."
    )

    assert decode(text.encode("koi8-r"), "x-unknown") == text


def test_undecodable_bytes_never_raise() -> None:
    assert isinstance(decode(bytes(range(256)) * 3, "utf-8"), str)


@pytest.mark.parametrize("label", [None, "", "nonsense-charset", "utf\x008", '"UTF-8"'])
def test_odd_labels(label: str | None) -> None:
    assert decode(b"plain", label) == "plain"
