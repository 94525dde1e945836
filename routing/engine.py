"""First-match rule engine. Conditions are small functions registered by name in `conditions`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from routing.conditions import CONDITIONS, Facts

DEFAULT_QUEUE = "helpdesk"


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
        }


def decide(facts: Facts, rules: tuple[Any, ...]) -> Decision:
    """Rules are anything with `name`, `when` and `then` (pairs), such as gateway.config.Rule.

    The first rule whose every condition holds decides; none → handle in `helpdesk`."""
    trace: list[dict[str, Any]] = []
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
            return _decision_for(rule, facts, tuple(trace))
    return Decision("handle", DEFAULT_QUEUE, DEFAULT_QUEUE, None, trace=tuple(trace))


def _decision_for(rule: Any, facts: Facts, trace: tuple[dict[str, Any], ...]) -> Decision:
    then = dict(rule.then)
    action = then.get("action", "handle")
    queue = then.get("queue", DEFAULT_QUEUE)
    if action == "escalate":
        target = (facts.provider or "microsoft") if facts.billing == "indirect" else "microsoft"
    elif action == "forward":
        target = then.get("party", "")
    else:
        target = queue
    return Decision(
        action,
        target,
        queue,
        rule.name,
        then.get("priority", "normal"),
        then.get("category"),
        then.get("reply"),
        trace,
    )
