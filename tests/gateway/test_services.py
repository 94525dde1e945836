"""gateway/runtime/services.py, the process table: its rows hold together, docs/ARCHITECTURE.md
shows exactly them, `gatewayd services` prints them, and every timer row has its body."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import Config
from gateway.runtime import services
from gateway.runtime.jobs import Jobs
from gateway.runtime.services import Kind, Restart, table
from gateway.store.engine import Store

REPO = Path(__file__).resolve().parents[2]
PROCESSES = {row.name for row in table() if row.kind is Kind.PROCESS}


def test_names_are_unique() -> None:
    names = [row.name for row in table()]
    assert len(names) == len(set(names))


def test_each_service_runs_in_a_process_of_the_table() -> None:
    assert {row.where for row in table()} <= PROCESSES | {"systemd"}
    assert [row.name for row in table() if row.where == "systemd"] == ["daemon"]


def test_every_timer_has_an_interval(config: Config) -> None:
    timers = [row for row in table() if row.kind is Kind.TIMER]
    assert timers and all(row.every is not None for row in timers)
    for row in timers:
        if row.when(config):
            assert (row.seconds(config) or 0) > 0, row.name


def test_a_loop_of_the_worker_sleeps_for_a_set_time() -> None:
    loops = [row for row in table() if row.where == "worker" and row.kind is Kind.THREAD]
    assert {row.name for row in loops} == {"processor", "outbox", "service-requests"}
    assert all(isinstance(row.every, float) and row.every > 0 for row in loops)


def test_only_timers_run_at_the_start() -> None:
    assert {row.kind for row in table() if row.at_start} == {Kind.TIMER}


def test_nothing_runs_above_the_process_it_is_in() -> None:
    """Only root may raise a priority: a thread or child can only go lower."""
    assert all(services.lowered_by(row) >= 0 for row in table())


def test_intake_comes_before_the_worker_and_the_worker_before_imap() -> None:
    niceness = {row.name: row.niceness for row in table()}
    assert niceness["smtp"] < niceness["worker"] < niceness["imap-reader"]


def test_the_pool_stops_last_in_the_daemon() -> None:
    """The daemon's rows start and stop through the thread pool."""
    assert [row.name for row in table() if row.where == "daemon"][-1] == "blocking"


def test_the_worker_check_stops_before_the_worker() -> None:
    names = [row.name for row in table()]
    assert names.index("worker-check") < names.index("worker")


def test_restart_policies() -> None:
    always, failure = services.named("worker"), services.named("watchdog")
    assert always.restarts(failed=False) and always.restarts(failed=True)
    assert failure.restarts(failed=True) and not failure.restarts(failed=False)
    for name in ("smtp", "parse-ahead"):  # never; on demand: started when next wanted
        assert services.named(name).restart in (Restart.NEVER, Restart.ON_DEMAND)
        assert not services.named(name).restarts(failed=True)


def test_the_ticket_timers_interval_can_be_shortened_for_tests(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = services.named("ticket-timers")
    assert row.seconds(config) == 60
    monkeypatch.setenv(services.TIMERS_ENV, "1")
    assert row.seconds(config) == 1
    monkeypatch.setenv(services.TIMERS_ENV, "0.01")
    assert row.seconds(config) == 0.5
    monkeypatch.setenv(services.TIMERS_ENV, "soon")
    assert row.seconds(config) == 60


def test_every_timer_row_has_its_body(config: Config, store: Store) -> None:
    jobs = Jobs(config, store, None, None, None)  # type: ignore[arg-type]
    assert set(jobs.bodies()) == {row.name for row in table() if row.kind is Kind.TIMER}


def _documented() -> list[list[str]]:
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("\n## Processes\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    assert lines[0] == "| name | kind | where | niceness | restart | wakes |"
    rows = [re.split(r" \| ", line[2:-2]) for line in lines[1:]]
    return [[cell.strip().strip("`") for cell in cells] for cells in rows]


def test_the_architecture_doc_shows_the_table() -> None:
    rows = [[str(value) for value in row.as_json().values()] for row in table()]
    assert _documented() == rows


def test_gatewayd_services_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    shutil.copy(REPO / "config.toml", config)

    assert main(["services", "--json", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == [row.as_json() for row in table()]

    assert main(["services", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "kind", "where", "niceness", "restart", "wakes"]
    assert [line.split()[0] for line in lines[1:]] == [row.name for row in table()]
