"""Alembic migrations of the gateway's schema, run programmatically (no alembic.ini needed).

Alembic itself is imported only to migrate: every start asks whether the schema is current, and
answering that through Alembic (its import, and reading each revision file) delayed the daemon's
start, and so intake (bench/imap_backlog.py measures a start).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

HERE = Path(__file__).parent


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def head() -> str:
    """The newest revision: each file is NNNN_name.py with `revision = "NNNN"`, one after the
    other (tests/gateway/test_storage.py checks that Alembic finds the same head)."""
    return max(path.name[:4] for path in (HERE / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def is_current(engine: Engine) -> bool:
    """The schema is at the newest revision; a read only, so it never waits for a writer."""
    reading = engine.execution_options(sqlite_begin="DEFERRED")
    with reading.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        revisions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return [revision for (revision,) in revisions] == [head()]
