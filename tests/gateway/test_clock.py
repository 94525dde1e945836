"""gateway/clock.py: the system clock, or a time set by a file that runs on from its writing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import clock


def test_without_the_variable_it_is_the_system_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.ENV, raising=False)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_a_file_sets_the_time_and_it_runs_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clock"
    monkeypatch.setenv(clock.ENV, str(path))
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)  # no file yet
    set_at = datetime(2026, 12, 1, 8, 55, tzinfo=UTC)
    clock.set_clock(str(path), set_at)
    first = clock.now()
    assert set_at <= first < set_at + timedelta(seconds=1)
    assert clock.now() >= first
    later = datetime(2026, 12, 24, 17, 0, tzinfo=UTC)
    clock.set_clock(str(path), later)
    assert later <= clock.now() < later + timedelta(seconds=1)
