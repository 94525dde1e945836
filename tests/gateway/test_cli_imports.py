"""The commands admins and their scripts run most (`tickets list`, `tickets show`) load what
they show and no more: the daemon, the parsers, DKIM signing and the Microsoft clients are
imported only by the commands that use them. Each `gatewayd` command is a new Python process,
and these imports were most of its time; the end-to-end tests ask `tickets` hundreds of times."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.cli.base import open_store
from gateway.config import load_config
from tests.gateway.test_timers import make_ticket

REPO = Path(__file__).resolve().parents[2]

# What listing or showing a ticket of the shipped config never needs, with their submodules.
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
_MODULES = "-- modules --"

_LOADED = f"""
import sys
from gateway.cli import main
code = main(sys.argv[1:])
print({_MODULES!r}, *sorted(sys.modules), sep="\\n")
sys.exit(code)
"""


def _modules_after(arguments: list[str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _LOADED, *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split(f"{_MODULES}\n", 1)[1].splitlines()


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """The shipped config, with one ticket in its database."""
    path = tmp_path / "config.toml"
    shutil.copy(REPO / "config.toml", path)
    store = open_store(load_config(path))
    make_ticket(store, "open", timedelta(hours=1))
    store.close()
    return path


@pytest.mark.parametrize(
    "command",
    [["tickets", "list"], ["tickets", "list", "--json"], ["tickets", "show", "1", "--json"]],
)
def test_tickets_commands_load_neither_the_daemon_nor_the_parsers(
    config_path: Path, command: list[str]
) -> None:
    loaded = _modules_after([*command, "--config", str(config_path)])
    assert "gateway.store.engine" in loaded  # it did read the database
    heavy = [m for m in loaded if any(m == n or m.startswith(f"{n}.") for n in NOT_FOR_SHOWING)]
    assert heavy == []
