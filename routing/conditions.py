"""Condition kinds of `[[rules]] when`: each is one small function registered by name.

A condition gets the facts of the message and the value from config.toml and says whether it
holds. A list value holds when any item holds.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Facts:
    """What routing may look at; built by the caller from the parsed message and the config."""

    subject: str
    text: str
    sender: str
    customer: str | None = None
    billing: str | None = None
    provider: str | None = None
    has_attachment: bool = False
    known_issue: bool = False
    in_hours: bool = True
    headers: tuple[tuple[str, str], ...] = field(default=())


Condition = Callable[[Facts, Any], bool]
CONDITIONS: dict[str, Condition] = {}


def condition(name: str) -> Callable[[Condition], Condition]:
    def register(function: Condition) -> Condition:
        CONDITIONS[name] = function
        return function

    return register


def _any(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


@condition("words")
def words(facts: Facts, value: Any) -> bool:
    haystack = f"{facts.subject}\n{facts.text}"
    return any(
        re.search(rf"(?<!\w){re.escape(w)}(?!\w)", haystack, re.IGNORECASE) for w in _any(value)
    )


@condition("subject")
def subject(facts: Facts, value: Any) -> bool:
    return any(re.search(p, facts.subject, re.IGNORECASE) for p in _any(value))


@condition("body")
def body(facts: Facts, value: Any) -> bool:
    return any(re.search(p, facts.text, re.IGNORECASE | re.MULTILINE) for p in _any(value))


@condition("from")
def sender(facts: Facts, value: Any) -> bool:
    return any(fnmatch.fnmatchcase(facts.sender, g.lower()) for g in _any(value))


@condition("customer")
def customer(facts: Facts, value: Any) -> bool:
    return facts.customer in _any(value)


@condition("billing")
def billing(facts: Facts, value: Any) -> bool:
    return facts.billing in _any(value)


@condition("known_issue")
def known_issue(facts: Facts, value: Any) -> bool:
    return facts.known_issue is bool(value)


@condition("in_hours")
def in_hours(facts: Facts, value: Any) -> bool:
    return facts.in_hours is bool(value)


@condition("has_attachment")
def has_attachment(facts: Facts, value: Any) -> bool:
    return facts.has_attachment is bool(value)


@condition("header")
def header(facts: Facts, value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    for name, pattern in value.items():
        values = [v for k, v in facts.headers if k.lower() == name.lower()]
        if not any(re.search(pattern, v, re.IGNORECASE) for v in values):
            return False
    return True
