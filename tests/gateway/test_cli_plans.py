"""gateway/cli/plans.py: `sla due` on the shipped plans, and refused arguments named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gateway.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    shutil.copy(REPO / "config.toml", path)
    return path


def test_sla_due_over_christmas(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["sla", "due", "--from", "2026-12-24T16:00+01:00", "--priority", "high"]
    assert main([*arguments, "--json", "--config", str(shipped)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["plan"] == "standard"  # support.plan
    assert result["due"] == result["first_response"]["due"] == "2026-12-24T18:00:00+01:00"
    # "1d" (10 h): 2 h on the 24th, then Christmas, Boxing Day, a Sunday; 8 h on the 28th.
    assert result["resolution"]["due"] == "2026-12-28T16:00:00+01:00"
    assert main([*arguments, "--plan", "premium", "--json", "--config", str(shipped)]) == 0
    premium = json.loads(capsys.readouterr().out)
    assert premium["first_response"]["due"] == "2026-12-24T16:30:00+01:00"  # 24x7


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["sla", "due", "--from", "tomorrow"], "--from: not an ISO 8601 time"),
        (["sla", "due", "--from", "2026-12-01T09:00Z", "--plan", "gold"], "--plan: no [[plans]]"),
        (["report", "--month", "2026-13"], "--month: no month 13"),
        (["report", "--month", "2026-11", "--customer", "nobody"], "--customer: no [[customers]]"),
    ],
)
def test_refused_arguments_are_named(
    shipped: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], problem: str
) -> None:
    assert main([*arguments, "--config", str(shipped)]) == 2
    assert problem in capsys.readouterr().err
