"""parsers/message.py never crashes: any bytes give a ParsedMessage or `Unparseable`, in bounded
time (Hypothesis, with bounded example counts so the suite stays fast)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.message import ParsedMessage, Unparseable, parse_message

SEED = (
    b"From: =?utf-8?q?Anna_de_Boer?= <anna@fabrikam.example>\r\n"
    b'To: support@contoso.example, "Jan, de" <jan@contoso.example>\r\n'
    b"Subject: =?iso-8859-1?q?Re:_Caf=E9?=\r\n"
    b"Message-ID: <1@fabrikam.example>\r\n"
    b"Date: Tue, 3 Mar 2026 10:12:00 +0100\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="B"\r\n'
    b"\r\n"
    b"--B\r\n"
    b"Content-Type: text/html; charset=windows-1252\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<p>Caf=E9 <a href=3D'https://x.example'>link</a></p>"
    b"<div class=3D'gmail_quote'>old</div>\r\n"
    b"--B\r\n"
    b"Content-Type: application/pdf; name*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
    b"Content-Disposition: attachment\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--B--\r\n"
)


def parses_or_refuses(data: bytes) -> ParsedMessage | None:
    try:
        parsed = parse_message(data)
    except Unparseable:
        return None
    parsed.as_json()  # everything the CLI prints must be computable
    return parsed


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    parses_or_refuses(data)


@settings(max_examples=300, deadline=2000)
@given(st.data())
def test_mutated_real_message_never_crashes(data: st.DataObject) -> None:
    raw = bytearray(SEED)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if action == "flip":
            raw[position] = data.draw(st.integers(0, 255))
        elif action == "delete":
            del raw[position : position + data.draw(st.integers(1, 40))]
        else:
            raw[position:position] = data.draw(st.sampled_from([b"\x00", b"=?", b"\r\n", b"--B"]))
    parses_or_refuses(bytes(raw))


def test_the_seed_reads_right() -> None:
    parsed = parses_or_refuses(SEED)

    assert parsed is not None
    assert parsed.subject == "Re: Café"
    assert parsed.from_name == "Anna de Boer"
    assert "Café [link](https://x.example)" in parsed.full_text
    assert "old" not in parsed.text
    assert [(a.filename, a.size) for a in parsed.attachments] == [("résumé.pdf", 9)]


def within(seconds: float, data: bytes) -> ParsedMessage | None:
    started = time.perf_counter()
    parsed = parses_or_refuses(data)
    assert time.perf_counter() - started < seconds
    return parsed


def test_deeply_nested_multiparts() -> None:
    depth = 300
    head = b"From: a@b.example\r\nSubject: deep\r\n"
    body = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(depth)
    )
    within(10, head + body + b"Content-Type: text/plain\r\n\r\nbottom\r\n")


def test_huge_header_and_nul_bytes() -> None:
    to = b", ".join(b"user%d@fabrikam.example" % n for n in range(20000))
    data = b"From: a@b.example\r\nTo: " + to + b"\r\nSubject: \x00nul\x00\r\n\r\nhi\x00there\r\n"

    parsed = within(15, data)

    assert parsed is not None and len(parsed.to) == 20000


def test_broken_base64() -> None:
    data = (
        b"From: a@b.example\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b"!!!not base64 at all===\r\n" * 1000
    )
    within(5, data)


CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
REAL = sorted(CORPUS.glob("*/**/*.eml"))[::7] if CORPUS.is_dir() else []


@pytest.mark.skipif(not REAL, reason=f"the shared corpus is not at {CORPUS}")
@settings(max_examples=200, deadline=3000)
@given(st.data())
def test_mutated_corpus_messages_never_crash(data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from(REAL)).read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        piece = data.draw(st.sampled_from([b"\x00", b"=?utf-8?b?", b"\r\n\r\n", b"--", b"\xff"]))
        if data.draw(st.booleans()):
            raw[position:position] = piece
        else:
            del raw[position : position + data.draw(st.integers(1, 200))]
    parses_or_refuses(bytes(raw))


def test_a_huge_html_body_in_bounded_time() -> None:
    html = b"<div><p>word word word</p></div>" * 300_000  # 9.6 MB
    data = b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n" + html

    parsed = within(10, data)

    assert parsed is not None and parsed.text.startswith("word word word")


def test_nesting_deeper_than_the_stdlib_can_parse_gives_the_header_block() -> None:
    body = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(3000)
    )

    parsed = parse_message(b"From: a@b.example\r\n" + body)

    assert parsed.from_addr == "a@b.example"
    assert parsed.defects == ("MIME parts nested deeper than 200 levels: the body is not read",)
