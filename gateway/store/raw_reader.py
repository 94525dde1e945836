"""The parser stage's reads of raw_messages, with the standard library's sqlite3.

Not through SQLAlchemy: its import alone costs a stage a good share of its CPU (figures in
docs/PERFORMANCE.md), spent just when a flood begins and every core is busy. In WAL mode a
reader never waits for a writer; each statement here reads the latest commit. The statements
name the model's columns themselves, so tests/gateway/test_raw_reader.py checks them against
`RawMessage` (gateway/store/models.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

# The columns and the state named below, for the test against the model.
COLUMNS = ("id", "size", "state", "mail_from", "data")
NEW = "new"

_NEXT = (
    "SELECT id, size FROM raw_messages WHERE state = 'new' AND id NOT IN ({}) ORDER BY id LIMIT ?"
)
_DATA = "SELECT id, mail_from, data FROM raw_messages WHERE id IN ({})"


def open_database(url: str) -> sqlite3.Connection:
    if not url.startswith("sqlite:///"):
        raise ValueError(f"the parser stage reads SQLite only, not {url.partition(':')[0]}")
    database = sqlite3.connect(url.removeprefix("sqlite:///").partition("?")[0], timeout=5)
    database.execute("PRAGMA query_only = ON")
    return database


def next_new(
    database: sqlite3.Connection, limit: int, exclude: Sequence[int]
) -> list[tuple[int, int]]:
    """(id, size) of the first `limit` new messages, in the order they were stored."""
    return database.execute(_NEXT.format(_marks(exclude)), (*exclude, limit)).fetchall()


def contents(
    database: sqlite3.Connection, raw_ids: Sequence[int]
) -> Iterator[tuple[int, str | None, bytes]]:
    """(id, envelope sender, bytes) of each message."""
    yield from database.execute(_DATA.format(_marks(raw_ids)), tuple(raw_ids))


def _marks(values: Sequence[int]) -> str:
    return ", ".join("?" * len(values))
