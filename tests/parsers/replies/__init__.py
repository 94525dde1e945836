"""Replies and forwards written in the style of each mail client, with the new text (and the
forwarded mail) a reader should get from them.

`dev/` is what the parser was tuned on; `heldout/` was written before the tuning and is only
scored (tests/parsers/test_replies.py), so that its figure says how the parser reads mail it was
not built from. Each `.case` file is a mail message, then a line `=== text ===` and the expected
new text, then optionally `=== forwarded ===` and the expected forwarded mail (`From:`,
`Subject:`, `Date:` lines, a blank line and its text; nothing below the line means "no forwarded
mail").

    .venv/bin/python -m tests.parsers.replies     # the figures of both sets, and what is wrong
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from parsers.message import ParsedMessage, parse_message

HERE = Path(__file__).parent
_TEXT = "\n=== text ===\n"
_FORWARDED = "\n=== forwarded ===\n"


@dataclass(frozen=True)
class Case:
    name: str
    message: bytes
    text: str
    forwarded: dict[str, str] | None  # None: the case says nothing about forwarding
    no_forward: bool = False  # the case says there is no forwarded mail


def cases(folder: str) -> list[Case]:
    return [_case(path) for path in sorted((HERE / folder).glob("*.case"))]


def _case(path: Path) -> Case:
    content = path.read_text("utf-8")
    message, _, expected = content.partition(_TEXT)
    text, has_forwarded, forwarded_part = expected.partition(_FORWARDED.lstrip("\n"))
    forwarded = _forwarded(forwarded_part) if has_forwarded else None
    return Case(
        name=path.name,
        message=message.replace("\n", "\r\n").encode("utf-8") + b"\r\n",
        text=text,
        forwarded=forwarded or None,
        no_forward=bool(has_forwarded) and not forwarded,
    )


def _forwarded(part: str) -> dict[str, str]:
    if not part.strip():
        return {}
    head, _, text = part.partition("\n\n")
    fields = {}
    for line in head.splitlines():
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    fields["text"] = text
    return fields


def norm(text: str) -> str:
    return " ".join(text.split())


def differences(case: Case) -> list[str]:
    """What the parser reads differently from the case's expectation; [] when all is right."""
    parsed = parse_message(case.message)
    wrong = []
    if norm(parsed.text) != norm(case.text):
        wrong.append(f"text: {parsed.text!r}")
    wrong += _forward_differences(case, parsed)
    return wrong


def _forward_differences(case: Case, parsed: ParsedMessage) -> list[str]:
    got = parsed.forwarded
    if case.no_forward:
        return [] if got is None else [f"forwarded, but should not be: {got}"]
    if case.forwarded is None:
        return []
    if got is None:
        return ["no forwarded mail found"]
    wanted = case.forwarded
    found = {"from": got.from_addr, "subject": got.subject, "date": got.date, "text": got.text}
    return [
        f"forwarded {key}: {found[key]!r}, wanted {wanted[key]!r}"
        for key in ("from", "subject", "date", "text")
        if key in wanted and norm(found[key]) != norm(wanted[key])
    ]


def clean_ratio(folder: str) -> tuple[int, int, list[str]]:
    """(right, all, names of the wrong ones)."""
    found = cases(folder)
    wrong = [case.name for case in found if differences(case)]
    return len(found) - len(wrong), len(found), wrong
