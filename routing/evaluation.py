"""Scores of triage and of a routing policy on labelled mail: accuracy, per label and language,
a confusion matrix and the lines that went wrong. Pure: the caller classifies and routes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from routing.engine import Decision


def route_of(decision: Decision) -> str:
    """escalate | sales | baseline: what `expect` in an evaluation line names."""
    if decision.action in ("escalate", "forward"):
        return "escalate"
    return "sales" if decision.queue == "sales" else "baseline"


@dataclass(frozen=True)
class Outcome:
    line: int
    subject: str
    language: str
    expected: str
    got: str
    confidence: float = 0.0


@dataclass(frozen=True)
class Scores:
    labels: tuple[str, ...]
    outcomes: tuple[Outcome, ...]

    @property
    def right(self) -> int:
        return sum(o.expected == o.got for o in self.outcomes)

    @property
    def accuracy(self) -> float:
        return self.right / len(self.outcomes) if self.outcomes else 0.0

    def recall(self, key: str, value: str) -> tuple[int, int]:
        """(right, all) of the lines whose `key` (expected or language) is `value`."""
        picked = [o for o in self.outcomes if getattr(o, key) == value]
        return sum(o.expected == o.got for o in picked), len(picked)

    def confusion(self) -> dict[str, dict[str, int]]:
        """expected -> got -> count."""
        counts = Counter((o.expected, o.got) for o in self.outcomes)
        got = sorted({o.got for o in self.outcomes} | set(self.labels), key=self._order)
        return {e: {g: counts[(e, g)] for g in got} for e in self.labels}

    def wrong(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.expected != o.got]

    def _order(self, label: str) -> tuple[int, str]:
        return (self.labels.index(label) if label in self.labels else len(self.labels), label)

    def as_json(self) -> dict[str, Any]:
        languages = sorted({o.language for o in self.outcomes if o.language})
        return {
            "lines": len(self.outcomes),
            "accuracy": round(self.accuracy, 4),
            "per_label": {label: _share(*self.recall("expected", label)) for label in self.labels},
            "per_language": {lang: _share(*self.recall("language", lang)) for lang in languages},
            "confusion": self.confusion(),
            "misclassified": [
                {
                    "line": o.line,
                    "subject": o.subject,
                    "expected": o.expected,
                    "got": o.got,
                    "confidence": round(o.confidence, 3),
                }
                for o in self.wrong()
            ],
        }

    def lines(self, title: str) -> list[str]:
        """The report as text."""
        out = [f"{title}: {self.right}/{len(self.outcomes)} right ({self.accuracy:.1%})"]
        for key, values in (
            ("expected", self.labels),
            ("language", sorted({o.language for o in self.outcomes if o.language})),
        ):
            for value in values:
                right, total = self.recall(key, value)
                if total:
                    out.append(f"  {value:<20} {right:>4}/{total:<4} {right / total:.1%}")
        confusion = self.confusion()
        columns = list(next(iter(confusion.values()), {}))
        out.append("  confusion (rows expected, columns got):")
        out.append("  " + " " * 20 + "".join(f"{c[:9]:>10}" for c in columns))
        for expected, row in confusion.items():
            out.append(f"  {expected:<20}" + "".join(f"{row[c]:>10}" for c in columns))
        return out


def _share(right: int, total: int) -> dict[str, Any]:
    return {"right": right, "lines": total, "accuracy": round(right / total, 4) if total else None}


def scores(labels: Sequence[str], outcomes: Sequence[Outcome]) -> Scores:
    return Scores(tuple(labels), tuple(outcomes))
