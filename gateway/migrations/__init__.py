"""Alembic migrations of the gateway's schema, run programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def is_current(engine: Engine) -> bool:
    """The schema is at the newest revision; a read only, so it never waits for a writer."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    reading = engine.execution_options(sqlite_begin="DEFERRED")
    with reading.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head
