"""The commands admins and their scripts run most (`tickets list`, `tickets show`) load what
they show and no more: the daemon, the parsers, DKIM signing and the Microsoft clients are
imported only by the commands that use them. Each `gatewayd` command is a new Python process,
and these imports were most of its time; the end-to-end tests ask `tickets` hundreds of times."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What the shipped config and an empty database never need in order to list or show tickets.
NOT_FOR_SHOWING = (
    "gateway.runtime.daemon",
    "gateway.intake.smtp",
    "aiosmtpd",
    "parsers.message",
    "lxml",
    "dkim",
    "gateway.microsoft.api",
    "msal",
    "sklearn",
)

_LOADED = """
import sys
from gateway.cli import main
code = main(sys.argv[1:])
print("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


def _modules_after(arguments: list[str]) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", _LOADED, *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return {line for line in result.stdout.splitlines() if line and not line.startswith(("[", "{"))}


@pytest.mark.parametrize("command", [["tickets", "list"], ["tickets", "list", "--json"]])
def test_listing_tickets_loads_neither_the_daemon_nor_the_parsers(
    tmp_path: Path, command: list[str]
) -> None:
    shutil.copy(REPO / "config.toml", tmp_path / "config.toml")
    loaded = _modules_after([*command, "--config", str(tmp_path / "config.toml")])
    assert "gateway.store.engine" in loaded  # it did read the database
    heavy = sorted(m for m in loaded if m.split(".")[0] in NOT_FOR_SHOWING or m in NOT_FOR_SHOWING)
    assert heavy == []
