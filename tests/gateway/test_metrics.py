"""gateway/runtime/metrics.py: what a scrape of /metrics reads, and /healthz answers."""

from __future__ import annotations

import multiprocessing
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.runtime.metrics import Metrics, MetricsServer
from gateway.runtime.status import Expiry, MailboxState, Snapshot, queue_depths, stored_mailboxes
from gateway.runtime.worker_stats import WorkerStats
from gateway.store.engine import Store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def snapshot(**changed: object) -> Snapshot:
    base: dict[str, object] = {
        "at": NOW,
        "storage_error": None,
        "queues": {
            "stored_unprocessed": 3,
            "quarantined": 1,
            "outbox_waiting": 2,
            "outbox_failed": 0,
        },  # fmt: skip
        "mailboxes": [MailboxState("support", NOW - timedelta(minutes=1), waiting=7)],
        "expiries": [Expiry("certificate", "imap:support", NOW + timedelta(days=30))],
        "worker_alive": True,
    }
    return Snapshot(**{**base, **changed})  # type: ignore[arg-type]


def _work_in_a_child(stats: WorkerStats) -> None:
    stats.processed("ticket", 0.2)
    stats.processed("follow_up", 4.0)
    stats.processed("quarantined", 7200.0)
    stats.delivered("sent", 0.3)
    stats.delivered("retry")


@pytest.fixture
def served() -> Iterator[tuple[MetricsServer, WorkerStats, list[Snapshot], list[list[str]]]]:
    context = multiprocessing.get_context("spawn")  # as far from the daemon as the worker is
    stats = WorkerStats(context)
    child = context.Process(target=_work_in_a_child, args=(stats,))
    child.start()
    child.join()
    snapshots, health = [snapshot()], [[]]
    metrics = Metrics(stats, lambda: snapshots[-1])
    server = MetricsServer("127.0.0.1", 0, metrics, lambda: health[-1])
    server.start()
    yield server, stats, snapshots, health
    server.stop()


def get(server: MetricsServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_scrape_reads_the_workers_counts_and_the_snapshot(served: tuple) -> None:  # type: ignore[type-arg]
    server, _, _, _ = served
    status, text = get(server, "/metrics")
    assert status == 200
    found = samples(text)
    assert found[("gatewayd_messages_processed_total", (("outcome", "ticket"),))] == 1
    assert found[("gatewayd_messages_processed_total", (("outcome", "quarantined"),))] == 1
    assert found[("gatewayd_messages_processed_total", (("outcome", "robot"),))] == 0
    assert found[("gatewayd_deliveries_total", (("outcome", "retry"),))] == 1
    latency = "gatewayd_processing_latency_seconds"
    assert found[(f"{latency}_bucket", (("le", "0.25"),))] == 1
    assert found[(f"{latency}_bucket", (("le", "5.0"),))] == 2
    assert found[(f"{latency}_bucket", (("le", "+Inf"),))] == 3
    assert found[(f"{latency}_count", ())] == 3
    assert found[(f"{latency}_sum", ())] == pytest.approx(7204.2)
    assert found[("gatewayd_delivery_latency_seconds_count", ())] == 1
    assert found[("gatewayd_queue_messages", (("queue", "stored_unprocessed"),))] == 3
    assert found[("gatewayd_queue_messages", (("queue", "outbox_waiting"),))] == 2
    assert found[("gatewayd_mailbox_messages_waiting", (("mailbox", "support"),))] == 7
    assert (
        found[("gatewayd_mailbox_last_success_timestamp_seconds", (("mailbox", "support"),))]
        == (NOW - timedelta(minutes=1)).timestamp()
    )
    cert = (("kind", "certificate"), ("name", "imap:support"))
    assert (
        found[("gatewayd_expiry_timestamp_seconds", cert)] == (NOW + timedelta(days=30)).timestamp()
    )
    assert found[("gatewayd_storage_up", ())] == 1
    assert found[("gatewayd_worker_up", ())] == 1


def test_the_daemons_own_counters_and_a_database_down(served: tuple) -> None:  # type: ignore[type-arg]
    server, _, snapshots, _ = served
    metrics = server._metrics
    metrics.receive("smtp", "accepted", 5)
    metrics.receive("smtp", "deferred")
    snapshots.append(snapshot(storage_error="connection refused", queues={}))
    found = samples(get(server, "/metrics")[1])
    assert (
        found[("gatewayd_messages_received_total", (("intake", "smtp"), ("outcome", "accepted")))]
        == 5
    )
    assert (
        found[("gatewayd_messages_received_total", (("intake", "smtp"), ("outcome", "deferred")))]
        == 1
    )
    assert found[("gatewayd_storage_up", ())] == 0
    assert not [key for key in found if key[0] == "gatewayd_queue_messages"]


def test_healthz_is_200_or_503_with_the_reasons(served: tuple) -> None:  # type: ignore[type-arg]
    server, _, _, health = served
    assert get(server, "/healthz") == (200, "ok\n")
    health.append(["database: connection refused", "worker: not running"])
    assert get(server, "/healthz") == (503, "database: connection refused\nworker: not running\n")
    assert get(server, "/other")[0] == 404


def test_what_makes_a_snapshot_unhealthy() -> None:
    fifteen = timedelta(minutes=15)
    assert snapshot().unhealthy(fifteen) == []
    stale = MailboxState("support", NOW - timedelta(minutes=20))
    never = MailboxState("other", None)
    sick = snapshot(storage_error="gone", worker_alive=False, mailboxes=[stale, never])
    assert sick.unhealthy(fifteen, started=NOW - timedelta(minutes=1)) == [
        "database: gone",
        "worker: not running",
        "mailbox support: not checked since 2026-12-01T11:40:00+00:00",
    ]
    assert snapshot(mailboxes=[never]).unhealthy(fifteen, started=NOW - timedelta(hours=1)) == [
        "mailbox other: not checked since 2026-12-01T11:00:00+00:00"
    ]


def test_the_processors_outcomes_are_the_ones_counted() -> None:
    from gateway.processing.stages import OUTCOMES
    from gateway.runtime.worker_stats import PROCESSING_OUTCOMES

    assert OUTCOMES == PROCESSING_OUTCOMES


def test_queue_depths_and_stored_mailboxes_from_the_database(store: Store) -> None:
    from gateway.store.models import ImapMailbox, RawMessage, RawState
    from gateway.store.raw_messages import IncomingRaw

    ids = store.insert_raw([IncomingRaw(f"Subject: {n}\r\n\r\n{n}\r\n".encode(), "smtp")
                            for n in range(3)])  # fmt: skip
    with store.session() as session:
        session.get_one(RawMessage, ids[0]).state = RawState.QUARANTINED
        session.add(ImapMailbox(name="support", last_uid=0, last_success_at=NOW))
    with store.reader() as session:
        assert queue_depths(session) == {
            "stored_unprocessed": 2, "quarantined": 1, "outbox_waiting": 0, "outbox_failed": 0
        }  # fmt: skip
        assert stored_mailboxes(session, ["support", "other"]) == [
            MailboxState("support", NOW),
            MailboxState("other", None),
        ]
