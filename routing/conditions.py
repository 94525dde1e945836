"""Condition kinds of `[[rules]] when`: each is registered by name with two small functions.

`prepare` runs once, when the config is loaded: it checks the value written in config.toml and
turns it into what `holds` needs (compiled patterns, a set of ids), or raises ValueError saying
what is wrong. `holds` gets the facts of a message and the prepared value. A list in config.toml
holds when any item holds. Adding a condition kind touches this file only.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from routing.intents import INTENTS, Triage


@dataclass(frozen=True)
class Facts:
    """What routing may look at; built by the caller from the parsed message and the config."""

    subject: str
    text: str
    sender: str
    # The text of the mail the sender forwarded ("see below"): the request itself. `words` and
    # `body` look at it too; the triage classifier reads it under this name.
    forwarded_text: str = ""
    customer: str | None = None
    billing: str | None = None
    provider: str | None = None
    has_attachment: bool = False
    direct_microsoft: bool = False  # the customer also buys from Microsoft directly
    known_issue: bool = False
    in_hours: bool = True
    headers: tuple[tuple[str, str], ...] = field(default=())
    triage: Triage | None = None  # what routing.triage made of the mail


@dataclass(frozen=True)
class Names:
    """Ids a rule may refer to, for checking it at load."""

    customers: frozenset[str] = frozenset()
    parties: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ConditionKind:
    holds: Callable[[Facts, Any], bool]
    prepare: Callable[..., Any]  # (value, names, **options) -> prepared value
    options: tuple[str, ...] = ()  # sibling keys of `when` that qualify this condition


CONDITIONS: dict[str, ConditionKind] = {}
# Option key of `when` -> the condition it qualifies ("confidence" -> "intent").
OPTIONS: dict[str, str] = {}


class OptionError(ValueError):
    """A bad value of an option: the message belongs to the option's key, not the condition's."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def condition(
    name: str, prepare: Callable[..., Any], options: tuple[str, ...] = ()
) -> Callable[[Callable[[Facts, Any], bool]], Callable[[Facts, Any], bool]]:
    def register(holds: Callable[[Facts, Any], bool]) -> Callable[[Facts, Any], bool]:
        CONDITIONS[name] = ConditionKind(holds, prepare, options)
        OPTIONS.update(dict.fromkeys(options, name))
        return holds

    return register


def prepare(name: str, value: Any, names: Names, options: Mapping[str, Any] | None = None) -> Any:
    """The value of condition `name` checked and made ready, with the options given beside it
    in `when`; ValueError (OptionError for an option) says what is wrong."""
    return CONDITIONS[name].prepare(value, names, **dict(options or {}))


# --- preparing values ---


def _strings(value: Any) -> list[str]:
    items = list(value) if isinstance(value, list | tuple) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise ValueError(f"must be a string or a list of strings, got {value!r}")
    return items


def _patterns(value: Any, names: Names) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in _strings(value):
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE | re.MULTILINE))
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return tuple(compiled)


def _word_patterns(value: Any, names: Names) -> tuple[re.Pattern[str], ...]:
    return tuple(
        re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE) for word in _strings(value)
    )


def _globs(value: Any, names: Names) -> tuple[str, ...]:
    return tuple(glob.lower() for glob in _strings(value))


def _customer_ids(value: Any, names: Names) -> frozenset[str]:
    ids = _strings(value)
    unknown = [i for i in ids if i not in names.customers]
    if unknown:
        raise ValueError(f"no [[customers]] entry has id {unknown[0]!r}")
    return frozenset(ids)


def _billing(value: Any, names: Names) -> frozenset[str]:
    models = _strings(value)
    if not set(models) <= {"direct", "indirect"}:
        raise ValueError(f'must be "direct" or "indirect", got {value!r}')
    return frozenset(models)


def _boolean(value: Any, names: Names) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _header_patterns(value: Any, names: Names) -> tuple[tuple[str, re.Pattern[str]], ...]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError('must be a table such as { X-Priority = "^1" }')
    return tuple((name.lower(), _patterns(pattern, names)[0]) for name, pattern in value.items())


# --- the condition kinds ---


@condition("words", _word_patterns)
def words(facts: Facts, patterns: tuple[re.Pattern[str], ...]) -> bool:
    haystack = f"{facts.subject}\n{facts.text}\n{facts.forwarded_text}"
    return any(p.search(haystack) for p in patterns)


@condition("subject", _patterns)
def subject(facts: Facts, patterns: tuple[re.Pattern[str], ...]) -> bool:
    return any(p.search(facts.subject) for p in patterns)


@condition("body", _patterns)
def body(facts: Facts, patterns: tuple[re.Pattern[str], ...]) -> bool:
    return any(p.search(facts.text) or p.search(facts.forwarded_text) for p in patterns)


@condition("from", _globs)
def sender(facts: Facts, globs: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(facts.sender, glob) for glob in globs)


@condition("customer", _customer_ids)
def customer(facts: Facts, ids: frozenset[str]) -> bool:
    return facts.customer in ids


@condition("billing", _billing)
def billing(facts: Facts, models: frozenset[str]) -> bool:
    return facts.billing in models


@condition("known_issue", _boolean)
def known_issue(facts: Facts, wanted: bool) -> bool:
    return facts.known_issue is wanted


@condition("direct_microsoft", _boolean)
def direct_microsoft(facts: Facts, wanted: bool) -> bool:
    return facts.direct_microsoft is wanted


@condition("in_hours", _boolean)
def in_hours(facts: Facts, wanted: bool) -> bool:
    return facts.in_hours is wanted


@condition("has_attachment", _boolean)
def has_attachment(facts: Facts, wanted: bool) -> bool:
    return facts.has_attachment is wanted


@condition("header", _header_patterns)
def header(facts: Facts, wanted: tuple[tuple[str, re.Pattern[str]], ...]) -> bool:
    for name, pattern in wanted:
        values = [v for k, v in facts.headers if k.lower() == name]
        if not any(pattern.search(v) for v in values):
            return False
    return True


# --- intent: what triage made of the mail ---

DEFAULT_CONFIDENCE = 0.5


@dataclass(frozen=True)
class WantedIntents:
    intents: frozenset[str]
    confidence: float

    def probability(self, triage: Triage) -> float:
        """How probable the listed intents are together."""
        return sum(triage.probability(intent) for intent in self.intents)

    def near_miss(self, triage: Triage | None) -> bool:
        """The top intent is listed but not probable enough: a suggestion for the agents."""
        return (
            triage is not None
            and triage.top in self.intents
            and self.probability(triage) < self.confidence
        )


def _intents(value: Any, names: Names, confidence: Any = DEFAULT_CONFIDENCE) -> WantedIntents:
    wanted = _strings(value)
    unknown = [i for i in wanted if i not in INTENTS]
    if unknown:
        raise ValueError(f"unknown intent {unknown[0]!r}; known: {', '.join(INTENTS)}")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise OptionError("confidence", f"must be a number from 0 to 1, got {confidence!r}")
    if not 0.0 <= confidence <= 1.0:
        raise OptionError("confidence", f"must be from 0 to 1, got {confidence!r}")
    return WantedIntents(frozenset(wanted), float(confidence))


@condition("intent", _intents, options=("confidence",))
def intent(facts: Facts, wanted: WantedIntents) -> bool:
    """The mail's top intent is one of those listed, and the listed intents together have at
    least `confidence` (default 0.5): `intent = ["unavailable", "network_outage"]` holds for a
    mail that is 0.4 unavailable and 0.3 network outage."""
    triage = facts.triage
    if triage is None:
        return False
    return triage.top in wanted.intents and wanted.probability(triage) >= wanted.confidence
