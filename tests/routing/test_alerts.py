"""routing/alerts.py: which intake problems hold, and each told once when it starts and ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from routing.alerts import Facts, Limits, Problem, changes, problems

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def facts(**changed: object) -> Facts:
    base: dict[str, object] = {
        "now": NOW,
        "mailbox_success": {"support": NOW - MINUTE},
        "started": NOW - timedelta(hours=5),
        "worker_deaths": [],
        "outbox_waiting": [],
        "free_bytes": {"var": 50 * 10**9},
    }
    return Facts(**{**base, **changed})  # type: ignore[arg-type]


def keys(found: list[Problem]) -> list[str]:
    return [p.key for p in found]


def test_a_healthy_daemon_has_no_problem() -> None:
    assert problems(facts(), Limits()) == []


def test_a_mailbox_not_read_for_stall_after_is_a_problem() -> None:
    stale = facts(mailbox_success={"support": NOW - 16 * MINUTE, "other": NOW - MINUTE})
    (problem,) = problems(stale, Limits())
    assert problem.key == "mailbox:support"
    assert "has not been read since 2026-12-01T11:44:00+00:00" in problem.text


def test_a_mailbox_never_read_counts_from_the_start() -> None:
    assert keys(problems(facts(mailbox_success={"support": None}), Limits())) == ["mailbox:support"]
    young = facts(mailbox_success={"support": None}, started=NOW - MINUTE)
    assert problems(young, Limits()) == []


def test_a_worker_that_keeps_dying() -> None:
    deaths = [NOW - MINUTE, NOW - 2 * MINUTE, NOW - 3 * MINUTE]
    assert keys(problems(facts(worker_deaths=deaths), Limits())) == ["worker-dying"]
    old = [NOW - timedelta(hours=1), NOW - MINUTE, NOW - 2 * MINUTE]
    assert problems(facts(worker_deaths=old), Limits()) == []


def test_an_outbox_growing_for_an_hour() -> None:
    samples = [(NOW - timedelta(minutes=m), 70 - m) for m in range(60, -1, -5)]
    assert keys(problems(facts(outbox_waiting=samples), Limits())) == ["outbox-growing"]
    drained = [*samples[:-1], (NOW, 0)]
    assert problems(facts(outbox_waiting=drained), Limits()) == []
    short = samples[-3:]  # ten minutes of growth only
    assert problems(facts(outbox_waiting=short), Limits()) == []


def test_low_disk() -> None:
    found = problems(facts(free_bytes={"var": 200 * 10**6, "var/outgoing": 5 * 10**9}), Limits())
    assert keys(found) == ["disk:var"]
    assert "200 MB free, less than 1000 MB" in found[0].text


def test_each_problem_is_told_when_it_starts_and_when_it_ends() -> None:
    stale = Problem("mailbox:support", "not read")
    assert [(c.problem.key, c.resolved) for c in changes({}, [stale])] == [
        ("mailbox:support", False)
    ]
    assert changes({"mailbox:support": stale}, [stale]) == []  # still holds: nothing new
    assert [(c.problem.key, c.resolved) for c in changes({"mailbox:support": stale}, [])] == [
        ("mailbox:support", True)
    ]
