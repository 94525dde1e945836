"""routing/engine.py and routing/conditions.py: first-match rules with a trace of every check."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from routing import Decision, Facts, Rule, Then, decide
from routing.conditions import CONDITIONS, Names, prepare
from routing.intents import Triage

NAMES = Names(customers=frozenset({"fabrikam", "adatum"}), parties=frozenset({"northwind"}))


def rule(name: str, when: dict[str, Any], then: dict[str, Any] | None = None) -> Rule:
    prepared = tuple((key, prepare(key, value, NAMES)) for key, value in when.items())
    return Rule(name, prepared, Then(**(then or {})))


FACTS = Facts(
    subject="Licence renewal",
    text="Please cancel our Teams licence.\nError 42 on start",
    sender="anna@fabrikam.example",
    customer="fabrikam",
    billing="direct",
    provider=None,
    has_attachment=False,
    known_issue=False,
    in_hours=True,
    headers=(("X-Priority", "1 (Highest)"), ("Importance", "high")),
)
OUTAGE = Triage("en", (("network_outage", 0.7), ("baseline", 0.2), ("unavailable", 0.1)))
HOW_TO = Triage("en", (("baseline", 0.6), ("network_outage", 0.3), ("unavailable", 0.1)))

# kind, value, facts for which it holds, facts for which it fails
CASES: list[tuple[str, Any, Facts, Facts]] = [
    ("words", "cancel", FACTS, replace(FACTS, text="Please cancelled")),
    ("words", ["opzeggen", "LICENCE"], FACTS, replace(FACTS, subject="x", text="licences")),
    ("subject", "^licence", FACTS, replace(FACTS, subject="Re: a licence")),
    ("body", r"^error \d+", FACTS, replace(FACTS, text="An error 42 on start")),
    # A forwarded request: the colleague's mail is what the rule is about.
    (
        "words",
        "outage",
        replace(FACTS, text="See below", forwarded_text="A Teams outage since 9"),
        replace(FACTS, text="See below", forwarded_text="All fine"),
    ),
    (
        "body",
        "^outage",
        replace(FACTS, text="FYI", forwarded_text="Outage since 9"),
        replace(FACTS, text="FYI", forwarded_text="No outage"),
    ),
    ("from", "*@FABRIKAM.example", FACTS, replace(FACTS, sender="anna@fabrikam.example.evil")),
    (
        "from",
        ["bob@adatum.example", "anna@*"],
        FACTS,
        replace(FACTS, sender="bob@fabrikam.example"),
    ),
    ("customer", ["adatum", "fabrikam"], FACTS, replace(FACTS, customer=None)),
    ("billing", "direct", FACTS, replace(FACTS, billing="indirect")),
    ("known_issue", True, replace(FACTS, known_issue=True), FACTS),
    ("known_issue", False, FACTS, replace(FACTS, known_issue=True)),
    ("in_hours", False, replace(FACTS, in_hours=False), FACTS),
    ("has_attachment", True, replace(FACTS, has_attachment=True), FACTS),
    ("direct_microsoft", True, replace(FACTS, direct_microsoft=True), FACTS),
    ("intent", "network_outage", replace(FACTS, triage=OUTAGE), replace(FACTS, triage=HOW_TO)),
    ("intent", ["unavailable", "network_outage"], replace(FACTS, triage=OUTAGE), FACTS),
    ("header", {"x-priority": "^1"}, FACTS, replace(FACTS, headers=(("X-Priority", "3"),))),
    (
        "header",
        {"X-Priority": "^1", "Importance": "high"},
        FACTS,
        replace(FACTS, headers=(("X-Priority", "1"),)),
    ),
]


@pytest.mark.parametrize(("kind", "value", "holds", "fails"), CASES)
def test_condition_holds_and_fails(kind: str, value: Any, holds: Facts, fails: Facts) -> None:
    prepared = prepare(kind, value, NAMES)
    assert CONDITIONS[kind].holds(holds, prepared) is True
    assert CONDITIONS[kind].holds(fails, prepared) is False


def test_every_registered_condition_is_tested() -> None:
    assert {case[0] for case in CASES} == set(CONDITIONS)


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("header", "X-Priority", "must be a table"),
        ("subject", "([unclosed", "is not a valid regular expression"),
        ("words", [], "must be a string or a list of strings"),
        ("customer", "contoso", "no [[customers]] entry has id 'contoso'"),
        ("billing", "dirct", 'must be "direct" or "indirect"'),
        ("in_hours", "yes", "must be true or false"),
    ],
)
def test_bad_values_are_refused_when_loading(kind: str, value: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        prepare(kind, value, NAMES)


def test_no_rules_handles_in_helpdesk() -> None:
    assert decide(FACTS, ()) == Decision("handle", "helpdesk", "helpdesk", None)


def test_no_match_handles_in_helpdesk_without_a_rule() -> None:
    rules = (rule("Adatum only", {"customer": "adatum"}, {"queue": "adatum"}),)

    decision = decide(FACTS, rules)

    assert (decision.action, decision.target, decision.queue, decision.rule) == (
        "handle",
        "helpdesk",
        "helpdesk",
        None,
    )
    assert [entry["rule"] for entry in decision.trace] == ["Adatum only"]


def test_first_match_wins() -> None:
    rules = (
        rule("Not this", {"customer": "adatum"}, {"queue": "adatum"}),
        rule(
            "Sales",
            {"words": "cancel"},
            {"action": "handle", "queue": "sales", "priority": "high", "category": "licences"},
        ),
        rule("Also matches", {"customer": "fabrikam"}, {"queue": "fabrikam"}),
    )

    decision = decide(FACTS, rules)

    assert decision == Decision(
        "handle", "sales", "sales", "Sales", "high", "licences", trace=decision.trace
    )
    assert [entry["rule"] for entry in decision.trace] == ["Not this", "Sales"]


def test_trace_lists_every_rule_tried_with_each_condition() -> None:
    rules = (
        rule("Fabrikam outside hours", {"customer": "fabrikam", "in_hours": False}),
        rule("Adatum", {"customer": "adatum"}),
    )

    decision = decide(FACTS, rules)

    assert list(decision.trace) == [
        {
            "rule": "Fabrikam outside hours",
            "matched": False,
            "conditions": [{"when": "customer", "held": True}, {"when": "in_hours", "held": False}],
        },
        {"rule": "Adatum", "matched": False, "conditions": [{"when": "customer", "held": False}]},
    ]


def test_trace_of_the_matching_rule() -> None:
    decision = decide(FACTS, (rule("Direct", {"billing": "direct", "words": "licence"}),))

    assert decision.rule == "Direct"
    assert list(decision.trace) == [
        {
            "rule": "Direct",
            "matched": True,
            "conditions": [{"when": "billing", "held": True}, {"when": "words", "held": True}],
        }
    ]


ESCALATE = (rule("Outage", {"words": "cancel"}, {"action": "escalate", "queue": "upstream"}),)


def test_escalation_of_a_direct_customer_goes_to_microsoft() -> None:
    decision = decide(FACTS, ESCALATE)

    assert (decision.action, decision.target, decision.queue) == (
        "escalate",
        "microsoft",
        "upstream",
    )


def test_escalation_of_an_indirect_customer_goes_to_the_provider() -> None:
    indirect = replace(FACTS, customer="adatum", billing="indirect", provider="northwind")

    decision = decide(indirect, ESCALATE)

    assert (decision.action, decision.target) == ("escalate", "northwind")


def test_forward_goes_to_the_party() -> None:
    rules = (rule("Printers", {"words": "cancel"}, {"action": "forward", "party": "northwind"}),)

    decision = decide(FACTS, rules)

    assert (decision.action, decision.target, decision.queue) == (
        "forward",
        "northwind",
        "helpdesk",
    )


def test_as_json() -> None:
    decision = decide(FACTS, ESCALATE)

    assert decision.as_json("fabrikam") == {
        "action": "escalate",
        "target": "microsoft",
        "queue": "upstream",
        "rule": "Outage",
        "customer": "fabrikam",
        "priority": "normal",
        "category": None,
        "reply": None,
        "trace": list(decision.trace),
        "suggestion": None,
    }
