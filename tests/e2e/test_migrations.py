"""Migrations on a real PostgreSQL database: daemons and commands started at the same moment on
an empty database all find one schema, and ticket numbers go on across a migration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, update

from gateway.store.batch import Batch
from gateway.store.counters import next_ticket_number
from gateway.store.engine import Store
from gateway.store.migrations import alembic_config, upgrade
from gateway.store.models import Counter
from tests.e2e import postgres
from tests.e2e.conftest import REPO, config_text
from tests.e2e.ports import free_port

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


def test_ticket_numbers_go_on_from_the_counter_through_upgrade_and_downgrade(
    pg_cluster: postgres.Postgres,
) -> None:
    store = Store(pg_cluster.create_database("numbers"))
    try:
        upgrade(store.engine, "0004")
        with store.session() as session:
            session.execute(update(Counter).where(Counter.name == "ticket").values(value=41))
        upgrade(store.engine)
        with store.session() as session:
            assert [next_ticket_number(Batch.immediate(session)) for _ in range(2)] == [42, 43]
        command.downgrade(alembic_config(store.engine), "0004")
        with store.session() as session:  # the counter row takes over where the sequence was
            assert session.scalar(select(Counter.value).where(Counter.name == "ticket")) == 43
        upgrade(store.engine)
        with store.session() as session:
            assert next_ticket_number(Batch.immediate(session)) == 44
    finally:
        store.close()
