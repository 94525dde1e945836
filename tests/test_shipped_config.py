"""The shipped config.toml documents every key INTERFACE.md names, each with a comment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INTERFACE = REPO.parent / "shared" / "INTERFACE.md"
KEY_LINE = re.compile(r"^\s*#?\s*([a-z_]+)\s*=\s*\S")


def shipped_lines() -> list[str]:
    return (REPO / "config.toml").read_text().splitlines()


def documented_keys(lines: list[str]) -> set[tuple[str, str]]:
    """(table, key) for every key line, commented-out examples included."""
    keys, table = set(), ""
    for line in lines:
        header = re.match(r"^\s*#?\s*\[\[?([a-z_]+)\]\]?", line)
        if header:
            table = header[1]
        elif match := KEY_LINE.match(line):
            keys.add((table, match[1]))
    return keys


def test_every_key_line_has_a_comment() -> None:
    for number, line in enumerate(shipped_lines(), 1):
        if KEY_LINE.match(line) and not line.lstrip().startswith("#"):
            assert " # " in line or line.rstrip().endswith(","), f"config.toml:{number}: {line}"


@pytest.mark.skipif(not INTERFACE.exists(), reason="../shared/INTERFACE.md is not beside the repo")
def test_every_interface_key_is_in_the_shipped_config() -> None:
    block = INTERFACE.read_text().split("```toml", 1)[1].split("```", 1)[0]
    wanted = documented_keys(block.splitlines())
    missing = wanted - documented_keys(shipped_lines())
    assert not missing, f"keys of INTERFACE.md missing from config.toml: {sorted(missing)}"
