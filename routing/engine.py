"""First-match rule engine. Conditions are small functions registered by name in `conditions`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from routing.conditions import CONDITIONS, Facts, WantedIntents
from routing.intents import CATEGORIES

DEFAULT_QUEUE = "helpdesk"


@dataclass(frozen=True)
class Then:
    """What a rule does when it matches. Its defaults are written here and nowhere else: config
    validation builds one from `[rules.then]` and takes what is not given from these."""

    action: str = "handle"  # handle | escalate | forward
    queue: str = DEFAULT_QUEUE
    party: str = ""  # with action = "forward"
    category: str = ""  # of an escalation; empty: from triage's intent, if any
    reply: str | None = None  # a template sent to the customer besides the acknowledgement
    priority: str = "normal"


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple[tuple[str, Any], ...]  # (condition, prepared value), as routing/conditions.py
    then: Then = field(default=Then())


@dataclass(frozen=True)
class Decision:
    action: str  # handle | escalate | forward
    target: str  # microsoft | <party id> | <queue>
    queue: str
    rule: str | None
    priority: str = "normal"
    category: str | None = None
    reply: str | None = None  # a template sent to the customer besides the acknowledgement
    trace: tuple[dict[str, Any], ...] = field(default=())
    suggestion: Suggestion | None = None  # what triage would have done, had it been surer

    def as_json(self, customer: str | None) -> dict[str, Any]:
        return {
            "action": self.action,
            "target": self.target,
            "queue": self.queue,
            "rule": self.rule,
            "customer": customer,
            "priority": self.priority,
            "category": self.category,
            "reply": self.reply,
            "trace": list(self.trace),
            "suggestion": self.suggestion.as_json() if self.suggestion else None,
        }


@dataclass(frozen=True)
class Suggestion:
    """A rule on intents that would have matched had triage been sure enough: the agents are told,
    and decide."""

    rule: str
    action: str
    category: str | None
    queue: str
    intent: str
    probability: float

    def line(self) -> str:
        """'suggested: escalate, network_outage, 0.55 — reply #escalate to confirm'"""
        if self.action in ("escalate", "forward"):
            how = f"reply #{self.action} to confirm"
            return f"suggested: {self.action}, {self.intent}, {self.probability:.2f} — {how}"
        return (
            f"suggested: queue {self.queue}, {self.intent}, {self.probability:.2f} — "
            "the ticket stays in the helpdesk until an agent moves it"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "action": self.action,
            "category": self.category,
            "queue": self.queue,
            "intent": self.intent,
            "probability": round(self.probability, 4),
            "line": self.line(),
        }


def decide(facts: Facts, rules: tuple[Rule, ...]) -> Decision:
    """The first rule whose every condition holds decides; none → handle in `helpdesk`."""
    trace: list[dict[str, Any]] = []
    near: Suggestion | None = None
    for rule in rules:
        results = [(key, CONDITIONS[key].holds(facts, value)) for key, value in rule.when]
        matched = all(held for _, held in results)
        trace.append(
            {
                "rule": rule.name,
                "matched": matched,
                "conditions": [{"when": key, "held": held} for key, held in results],
            }
        )
        if matched:
            decision = _decision_for(rule, facts, tuple(trace))
            if near and not any(key == "intent" for key, _ in rule.when):
                return replace(decision, suggestion=near)
            return decision
        near = near or _near_miss(rule, facts, results)
    return Decision(
        "handle", DEFAULT_QUEUE, DEFAULT_QUEUE, None, trace=tuple(trace), suggestion=near
    )


def _near_miss(rule: Rule, facts: Facts, results: list[tuple[str, bool]]) -> Suggestion | None:
    """The rule failed only on its intent condition, whose top intent was not probable enough."""
    failed = [key for key, held in results if not held]
    if failed != ["intent"] or facts.triage is None:
        return None
    wanted = dict(rule.when)["intent"]
    if not isinstance(wanted, WantedIntents) or not wanted.near_miss(facts.triage):
        return None
    then = rule.then
    return Suggestion(
        rule.name,
        then.action,
        then.category or None,
        then.queue,
        facts.triage.top,
        wanted.probability(facts.triage),
    )


def _decision_for(rule: Rule, facts: Facts, trace: tuple[dict[str, Any], ...]) -> Decision:
    then = rule.then
    if then.action == "escalate":
        target = (facts.provider or "microsoft") if facts.billing == "indirect" else "microsoft"
    elif then.action == "forward":
        target = then.party
    else:
        target = then.queue
    category = then.category or None
    if then.action == "escalate" and not category and facts.triage is not None:
        category = CATEGORIES.get(facts.triage.top)
    return Decision(
        then.action, target, then.queue, rule.name, then.priority, category, then.reply, trace
    )
