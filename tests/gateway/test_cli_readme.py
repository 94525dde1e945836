"""README's table of `gatewayd` commands lists exactly the commands the parser has: a command
added without a line for admins, or a line left for a command that went, fails here."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from gateway.cli import _parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _parsed_commands(parser: argparse.ArgumentParser, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for action in parser._actions:  # argparse keeps its subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _parsed_commands(sub, f"{prefix}{name} ")
                found |= nested or {f"{prefix}{name}"}
    return found


def _readme_commands() -> set[str]:
    section = README.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    found = set()
    for line in section.splitlines():
        cell = re.match(r"\| `gatewayd ([a-z][a-z -]*?)(?: [\[A-Z-]|`)", line)
        if cell:
            found.add(cell.group(1).strip())
    return found


def test_the_readme_lists_every_command_and_no_other() -> None:
    assert _readme_commands() == _parsed_commands(_parser())


def test_the_table_is_read_at_all() -> None:
    """A table the pattern no longer matches would make the test above compare two empty sets
    only if the parser had no commands either; this says so plainly."""
    assert {"run", "tickets list", "microsoft login"} <= _readme_commands()
