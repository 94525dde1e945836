"""Prometheus metrics and the health check, on `[metrics] listen`: GET /metrics and GET /healthz.

Each daemon exports its own (Prometheus adds the instance label); queue depths come from the
database, which daemons sharing PostgreSQL share, so every daemon reports the same depths.
Counts of what the worker process does (processing outcomes, deliveries, their latencies) are
kept in memory it shares with the daemon (`WorkerStats`), so they survive a worker that dies
and is started again and need no file per process, as prometheus-client's multiprocess mode
would. The server runs in a thread of its own: a scrape never waits for the event loop, and the
database queries of a scrape never block it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from gateway.logs import log_event
from gateway.runtime.status import Snapshot
from gateway.runtime.worker_stats import DELIVERY_OUTCOMES, PROCESSING_OUTCOMES, WorkerStats

log = logging.getLogger("gateway.metrics")


class Metrics:
    """The daemon's registry: counters it keeps itself, and a collector that reads the rest at
    each scrape."""

    def __init__(self, worker: WorkerStats, snapshot: Callable[[], Snapshot]) -> None:
        # No auto_describe: it would collect, and so query the database, when the collector is
        # registered, on the event loop.
        self.registry = CollectorRegistry(auto_describe=False)
        self.received = Counter(
            "gatewayd_messages_received",
            "Messages offered to the gateway, by intake and outcome (accepted: stored; "
            "refused: 5xx; deferred: 4xx, the sender retries)",
            ["intake", "outcome"],
            registry=self.registry,
        )
        self.worker_restarts = Counter(
            "gatewayd_worker_restarts", "Times the worker died and was started again",
            registry=self.registry,
        )  # fmt: skip
        self.registry.register(_Collected(worker, snapshot))

    def receive(self, intake: str, outcome: str, count: int = 1) -> None:
        self.received.labels(intake, outcome).inc(count)


class _Collected(Collector):
    def __init__(self, worker: WorkerStats, snapshot: Callable[[], Snapshot]) -> None:
        self._worker = worker
        self._snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        yield from self._worker_families()
        yield from _snapshot_families(self._snapshot())

    def _worker_families(self) -> Iterator[Any]:
        processed = CounterMetricFamily(
            "gatewayd_messages_processed",
            "Stored messages processed, by outcome",
            labels=["outcome"],
        )
        for outcome, count in self._worker.counts(PROCESSING_OUTCOMES).items():
            processed.add_metric([outcome], count)
        yield processed
        deliveries = CounterMetricFamily(
            "gatewayd_deliveries", "Attempts to hand outgoing mail to the relay, by outcome",
            labels=["outcome"],
        )  # fmt: skip
        for outcome, count in self._worker.counts(DELIVERY_OUTCOMES).items():
            deliveries.add_metric([outcome], count)
        yield deliveries
        for name, text, histogram in (
            ("gatewayd_processing_latency_seconds", "From storing a message to processing it",
             self._worker.processing_latency),
            ("gatewayd_delivery_latency_seconds", "From queueing a mail to the relay taking it",
             self._worker.delivery_latency),
        ):  # fmt: skip
            buckets, total = histogram.buckets()
            yield HistogramMetricFamily(name, text, buckets=buckets, sum_value=total)


def _snapshot_families(snapshot: Snapshot) -> Iterator[Any]:
    yield GaugeMetricFamily(
        "gatewayd_storage_up", "1 while the database answers", value=snapshot.storage_error is None
    )
    if snapshot.worker_alive is not None:
        yield GaugeMetricFamily("gatewayd_worker_up", "1 while the worker runs",
                                value=snapshot.worker_alive)  # fmt: skip
    if snapshot.queues:
        queues = GaugeMetricFamily(
            "gatewayd_queue_messages",
            "Messages waiting, from the shared database: stored_unprocessed, quarantined, "
            "outbox_waiting, outbox_failed",
            labels=["queue"],
        )
        for queue, count in snapshot.queues.items():
            queues.add_metric([queue], count)
        yield queues
    success = GaugeMetricFamily(
        "gatewayd_mailbox_last_success_timestamp_seconds",
        "When each mailbox was last read to its end (Unix time)", labels=["mailbox"],
    )  # fmt: skip
    waiting = GaugeMetricFamily(
        "gatewayd_mailbox_messages_waiting", "Messages in each mailbox not yet taken",
        labels=["mailbox"],
    )  # fmt: skip
    for mailbox in snapshot.mailboxes:
        if mailbox.last_success:
            success.add_metric([mailbox.name], mailbox.last_success.timestamp())
        if mailbox.waiting is not None:
            waiting.add_metric([mailbox.name], mailbox.waiting)
    yield success
    yield waiting
    expiry = GaugeMetricFamily(
        "gatewayd_expiry_timestamp_seconds",
        "When a credential expires (Unix time): kind token or certificate",
        labels=["kind", "name"],
    )
    for item in snapshot.expiries:
        expiry.add_metric([item.kind, item.name], item.at.timestamp())
    yield expiry
    yield GaugeMetricFamily(
        "gatewayd_alerts_raised", "Problems told to the admin-agents and not yet resolved",
        value=len(snapshot.alerts),
    )  # fmt: skip


class MetricsServer:
    """GET /metrics (the Prometheus text format) and GET /healthz (200 "ok", or 503 and one
    line per reason) on a thread of its own."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        health: Callable[[], list[str]],
    ) -> None:
        self._metrics = metrics
        self._health = health
        handler = type("Handler", (_Handler,), {"server_side": self})
        self._server = ThreadingHTTPServer((host, port), handler)  # OSError: the caller says so
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def page(self, path: str) -> tuple[int, str, bytes]:
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._metrics.registry)
        if path == "/healthz":
            reasons = self._health()
            text = "\n".join(reasons) if reasons else "ok"
            return (503 if reasons else 200), "text/plain; charset=utf-8", (text + "\n").encode()
        return 404, "text/plain; charset=utf-8", b"/metrics or /healthz\n"


class _Handler(BaseHTTPRequestHandler):
    server_side: MetricsServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        try:
            status, content_type, body = self.server_side.page(self.path.split("?")[0])
        except Exception as exc:  # a scrape must not take the server down
            log_event(log, "metrics.failed", level=logging.ERROR, error=repr(exc))
            status, content_type, body = 500, "text/plain", b"error\n"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every 15 s would fill the log; errors are logged in do_GET."""
