"""The intents of triage and its result, apart from the model: rules and their conditions read
these without loading numpy or the model (the daemon's own process never classifies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UPSTREAM = ("unavailable", "undocumented_fault", "bug", "network_outage", "regional")
INTENTS = (*UPSTREAM, "subscription", "baseline")
LANGUAGES = ("nl", "en", "de", "fr")

# The escalation category of each upstream intent: an `escalate` rule without a `category` of its
# own escalates with the one of the mail's top intent.
CATEGORIES = {
    "unavailable": "Service unavailable",
    "undocumented_fault": "Undocumented fault",
    "bug": "Bug",
    "network_outage": "Large network outage",
    "regional": "Regional problem",
}


def expected_route(intent: str) -> str:
    """The route an intent takes under the shipped policy: escalate, sales or baseline."""
    if intent == "subscription":
        return "sales"
    return "escalate" if intent in UPSTREAM else "baseline"


@dataclass(frozen=True)
class MailText:
    """What triage reads of one mail."""

    subject: str
    text: str  # the new text, quotes and signature stripped
    forwarded_text: str = ""  # the content of a forwarded mail, if the customer forwarded one


@dataclass(frozen=True)
class Triage:
    language: str
    intents: tuple[tuple[str, float], ...]  # every intent, the most probable first
    evidence: tuple[str, ...] = ()  # what weighed most for the top intent

    @property
    def top(self) -> str:
        return self.intents[0][0]

    @property
    def confidence(self) -> float:
        return self.intents[0][1]

    def probability(self, intent: str) -> float:
        return dict(self.intents).get(intent, 0.0)

    def as_json(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "intents": {name: round(p, 4) for name, p in self.intents},
            "top": self.top,
            "evidence": list(self.evidence),
        }
