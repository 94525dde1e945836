"""Daemons and commands started at the same moment on an empty PostgreSQL database all find
one schema: the migration runs once, the others wait for it and find it current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import postgres
from tests.e2e.conftest import REPO, config_text, free_port

pytestmark = pytest.mark.skipif(not postgres.available(), reason="installed by make test")


def test_commands_started_together_migrate_an_empty_database_once(
    tmp_path: Path, pg_cluster: postgres.Postgres
) -> None:
    for attempt in range(3):  # the race was lost in two of three tries before the lock
        url = pg_cluster.create_database(f"race{attempt}")
        config = tmp_path / f"config{attempt}.toml"
        text = config_text(free_port(), "maildir:outgoing")
        config.write_text(text.replace('url = "sqlite:///gateway.db"', f'url = "{url}"'))
        command = [sys.executable, "gatewayd.py", "tickets", "list", "--config", str(config)]
        runs = [
            subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        errors = [run.communicate(timeout=60)[1].decode() for run in runs]
        assert [run.returncode for run in runs] == [0] * 4, errors
