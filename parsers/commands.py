"""Commands at the top of an agent's reply: `#note`, `#close`, `#assign jan`…"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A command line: '#', a word, maybe an argument. "#1042" or "# heading" are not commands.
_COMMAND = re.compile(r"^#([A-Za-z][A-Za-z-]*)(?:[ \t]+(.*?))?[ \t]*$")


@dataclass(frozen=True)
class Command:
    name: str  # lower-case, without '#'
    argument: str


def split_commands(text: str) -> tuple[tuple[Command, ...], str]:
    """The commands at the top of `text` (blank lines between them allowed), and the rest."""
    lines = text.split("\n")
    commands: list[Command] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        match = _COMMAND.match(line)
        if match:
            commands.append(Command(match[1].lower(), (match[2] or "").strip()))
        elif line:
            break
        index += 1
    return tuple(commands), "\n".join(lines[index:]).strip()
