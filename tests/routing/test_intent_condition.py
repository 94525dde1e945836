"""The `intent` rule condition, its `confidence`, and the suggestion a near miss leaves."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from routing import Facts, Rule, Then, decide
from routing.conditions import CONDITIONS, DEFAULT_CONFIDENCE, Names, OptionError, prepare
from routing.intents import Triage

NAMES = Names(customers=frozenset({"fabrikam", "adatum"}))
FACTS = Facts(subject="s", text="t", sender="anna@fabrikam.example", billing="direct")


def triage(*pairs: tuple[str, float]) -> Triage:
    return Triage("nl", tuple(sorted(pairs, key=lambda p: -p[1])))


OUTAGE_55 = triage(("network_outage", 0.55), ("unavailable", 0.25), ("baseline", 0.2))
SPLIT = triage(("unavailable", 0.35), ("network_outage", 0.3), ("baseline", 0.35 - 0.05))


def holds(value: Any, facts: Facts, **options: Any) -> bool:
    return bool(CONDITIONS["intent"].holds(facts, prepare("intent", value, NAMES, options)))


def test_the_top_intent_with_enough_probability_holds() -> None:
    facts = replace(FACTS, triage=OUTAGE_55)

    assert holds("network_outage", facts)
    assert holds("network_outage", facts, confidence=0.55)
    assert not holds("network_outage", facts, confidence=0.6)
    assert not holds("unavailable", facts, confidence=0.1)  # not the top intent


def test_listed_intents_count_together() -> None:
    facts = replace(FACTS, triage=SPLIT)

    assert not holds("unavailable", facts)
    assert holds(["unavailable", "network_outage"], facts, confidence=0.6)
    assert not holds(["network_outage", "baseline"], facts)  # the top one is not listed


def test_without_triage_it_never_holds() -> None:
    assert not holds(["baseline"], FACTS, confidence=0.0)


def test_the_default_confidence() -> None:
    assert DEFAULT_CONFIDENCE == 0.5
    assert holds("network_outage", replace(FACTS, triage=OUTAGE_55))
    assert not holds("unavailable", replace(FACTS, triage=SPLIT))


@pytest.mark.parametrize(
    ("value", "options", "key", "reason"),
    [
        ("outage", {}, None, "unknown intent 'outage'; known: unavailable"),
        ([], {}, None, "must be a string or a list of strings"),
        ("bug", {"confidence": 1.5}, "confidence", "must be from 0 to 1, got 1.5"),
        ("bug", {"confidence": "high"}, "confidence", "must be a number from 0 to 1"),
        ("bug", {"confidence": True}, "confidence", "must be a number from 0 to 1"),
    ],
)
def test_bad_values(value: Any, options: dict[str, Any], key: str | None, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)) as raised:
        prepare("intent", value, NAMES, options)
    assert getattr(raised.value, "key", None) == key
    assert isinstance(raised.value, OptionError) is (key is not None)


def rule(name: str, when: dict[str, Any], then: dict[str, Any]) -> Rule:
    options = {k: v for k, v in when.items() if k == "confidence"}
    prepared = tuple(
        (key, prepare(key, value, NAMES, options if key == "intent" else None))
        for key, value in when.items()
        if key != "confidence"
    )
    return Rule(name, prepared, Then(**then))


POLICY = (
    rule("Sales", {"intent": "subscription"}, {"queue": "sales"}),
    rule(
        "Outage",
        {"intent": "network_outage", "confidence": 0.6},
        {"action": "escalate", "category": "Large network outage"},
    ),
    rule("Upstream", {"intent": ["unavailable", "network_outage"]}, {"action": "escalate"}),
)


def test_a_near_miss_is_suggested_and_the_ticket_stays_in_the_helpdesk() -> None:
    decision = decide(replace(FACTS, triage=OUTAGE_55), POLICY[:2])

    assert (decision.action, decision.queue, decision.rule) == ("handle", "helpdesk", None)
    assert decision.suggestion is not None
    assert decision.suggestion.line() == (
        "suggested: escalate, network_outage, 0.55 — reply #escalate to confirm"
    )
    assert decision.as_json("fabrikam")["suggestion"]["rule"] == "Outage"


def test_a_later_rule_that_matches_takes_it_without_a_suggestion() -> None:
    decision = decide(replace(FACTS, triage=OUTAGE_55), POLICY)

    assert (decision.action, decision.rule, decision.suggestion) == ("escalate", "Upstream", None)
    assert decision.category == "Large network outage"  # no category of its own: the top one's


def test_a_sales_near_miss_suggests_the_queue() -> None:
    facts = replace(FACTS, triage=triage(("subscription", 0.45), ("baseline", 0.4), ("bug", 0.15)))

    decision = decide(facts, POLICY)

    assert decision.rule is None
    assert decision.suggestion is not None
    assert decision.suggestion.line().startswith("suggested: queue sales, subscription, 0.45")


def test_no_suggestion_when_another_condition_failed() -> None:
    picky = rule(
        "Outage for adatum",
        {"intent": "network_outage", "confidence": 0.9, "customer": "adatum"},
        {"action": "escalate"},
    )
    facts = replace(FACTS, triage=OUTAGE_55, customer="fabrikam")

    assert decide(facts, (picky,)).suggestion is None


def test_no_suggestion_when_triage_is_sure_of_baseline() -> None:
    facts = replace(FACTS, triage=triage(("baseline", 0.9), ("network_outage", 0.1)))

    assert decide(facts, POLICY).suggestion is None
