"""What the worker process did, in memory it shares with the daemon: counts of processing
outcomes and deliveries, and their latency histograms. The daemon's /metrics
(gateway/runtime/metrics.py) reads them at each scrape; kept apart from it so that the daemon and
the worker import no HTTP server or Prometheus client to count (and the daemon none at all
without [metrics]).
"""

from __future__ import annotations

from typing import Any

PROCESSING_OUTCOMES = ("ticket", "follow_up", "agent_reply", "robot", "quarantined", "other")
DELIVERY_OUTCOMES = ("sent", "retry", "failed")
# From a second (a mail processed or sent at once) to an hour (a relay down): where the
# latencies of a healthy gateway and of a troubled one both fall into buckets that tell them apart.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class _Histogram:
    """Bucket counts (not cumulative; +Inf last) and the sum, in slots of a shared array."""

    def __init__(self, values: Any, start: int) -> None:
        self._values = values
        self.start = start
        self.end = start + len(LATENCY_BUCKETS) + 2  # the buckets, +Inf, the sum

    def observe(self, seconds: float) -> None:
        index = next(
            (i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS)
        )
        self._values[self.start + index] += 1
        self._values[self.end - 1] += seconds

    def buckets(self) -> tuple[list[tuple[str, float]], float]:
        counts = self._values[self.start : self.end - 1]
        bounds = [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]
        cumulative, total = [], 0.0
        for bound, count in zip(bounds, counts, strict=True):
            total += count
            cumulative.append((bound, total))
        return cumulative, self._values[self.end - 1]


class WorkerStats:
    """What the worker did, in shared memory the daemon reads at each scrape. Each slot has one
    writer thread (the processor writes processing's, the outbox thread delivery's), so a
    count is never lost to two threads adding at once; a scrape may see a histogram's count a
    moment before its sum."""

    def __init__(self, context: Any) -> None:  # a multiprocessing context
        size = len(PROCESSING_OUTCOMES) + len(DELIVERY_OUTCOMES) + 2 * (len(LATENCY_BUCKETS) + 2)
        self._values = context.RawArray("d", size)
        self._bind()

    def __getstate__(self) -> dict[str, Any]:
        return {"_values": self._values}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._values = state["_values"]
        self._bind()

    def _bind(self) -> None:
        first = len(PROCESSING_OUTCOMES) + len(DELIVERY_OUTCOMES)
        self.processing_latency = _Histogram(self._values, first)
        self.delivery_latency = _Histogram(self._values, self.processing_latency.end)

    def processed(self, outcome: str, seconds: float) -> None:
        """A message processed `seconds` after it was stored."""
        self._values[PROCESSING_OUTCOMES.index(outcome)] += 1
        self.processing_latency.observe(max(seconds, 0.0))

    def delivered(self, outcome: str, seconds: float | None = None) -> None:
        """A delivery attempt; `seconds` since the mail was queued, for one that was sent."""
        self._values[len(PROCESSING_OUTCOMES) + DELIVERY_OUTCOMES.index(outcome)] += 1
        if seconds is not None:
            self.delivery_latency.observe(max(seconds, 0.0))

    def counts(self, outcomes: tuple[str, ...]) -> dict[str, float]:
        offset = 0 if outcomes is PROCESSING_OUTCOMES else len(PROCESSING_OUTCOMES)
        return {name: self._values[offset + i] for i, name in enumerate(outcomes)}
