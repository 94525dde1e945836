"""parsers/tnef.py: winmail.dat unpacked into its body and files (MimeKit's samples, read in
place from the shared corpus)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from parsers.message import parse_message
from parsers.tnef import is_tnef, unpack
from tests.parsers.test_rtf import ENCAPSULATED_HTML
from tests.parsers.tnef_fixture import tnef_with_rtf_body

TNEF = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "mimekit-tnef"
pytestmark = pytest.mark.skipif(not TNEF.is_dir(), reason=f"the shared corpus is not at {TNEF}")


def expected() -> dict[str, dict[str, object]]:
    files: dict[str, dict[str, object]] = json.loads((TNEF / "expected.json").read_text("utf-8"))[
        "files"
    ]
    return {name: e for name, e in files.items() if name.endswith(".tnef")}


@pytest.mark.parametrize("name", sorted(expected()))
def test_the_files_in_the_stream_are_found(name: str) -> None:
    content = unpack((TNEF / name).read_bytes())
    wanted = expected()[name]["attachment_names"]
    assert isinstance(wanted, list)

    assert content is not None
    files = [file for file, _ in content.files]
    for file in wanted:
        if file in ("body.rtf", "body.html"):  # the body, not a file
            continue
        assert file in files or file == "Untitled Attachment", (name, files)


def test_attachment_bytes_match_the_expected_files() -> None:
    content = unpack((TNEF / "UnitTests/TestData/tnef/attachments.tnef").read_bytes())
    sizes = expected()["UnitTests/TestData/tnef/attachments.tnef"]["extracted_files"]
    assert content is not None and isinstance(sizes, dict)

    for file, data in content.files:
        if file.endswith(".htm"):  # MimeKit compares text files with LF line ends
            data = data.replace(b"\r\n", b"\n")
        assert len(data) == sizes[file]["size"], file


def test_not_tnef() -> None:
    assert unpack(b"PK\x03\x04 a zip file") is None
    assert is_tnef("application/ms-tnef", "x.bin")
    assert is_tnef("application/octet-stream", "WINMAIL.DAT")
    assert not is_tnef("application/pdf", "invoice.pdf")


def test_an_rtf_only_body_becomes_text() -> None:
    # Outlook in "Rich Text" format: the body is only compressed RTF inside winmail.dat.
    stream = tnef_with_rtf_body(
        rb"{\rtf1\ansi\ansicpg1252 Der Drucker ist kaputt.\par Gr\'fc\'dfe}"
    )

    content = unpack(stream)

    assert content is not None and content.text == "Der Drucker ist kaputt.\nGrüße"


def test_a_mail_with_an_rtf_winmail_dat_reads_as_text() -> None:
    stream = tnef_with_rtf_body(ENCAPSULATED_HTML)
    data = (
        b"From: Anna <anna@fabrikam.example>\r\nSubject: Printer\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b'Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(stream).replace(b"\n", b"\r\n")
        + b"--b--\r\n"
    )

    parsed = parse_message(data)

    assert parsed.text.startswith("Der Drucker im 3. OG druckt nicht. Grüße, Jörg")
    assert parsed.attachments == ()
