"""parsers/tnef.py: winmail.dat unpacked into its body and files (MimeKit's samples, read in
place from the shared corpus)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsers.tnef import is_tnef, unpack

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
