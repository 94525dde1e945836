"""The advisory lock that lets one daemon at a time run the ticket timers or read a mailbox, on
a real PostgreSQL cluster: held by one holder, refused to another, taken over when the holder
lets go or its connection dies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from gateway.storage import AdvisoryLock, Store
from tests.e2e import postgres

pytestmark = pytest.mark.skipif(not postgres.available(), reason="installed by make test")


@pytest.fixture
def two_stores(database: str) -> Iterator[tuple[Store, Store]]:
    """Two daemons' stores on one database."""
    first, second = Store(database), Store(database)
    first.migrate()
    yield first, second
    first.close()
    second.close()


def test_one_holder_at_a_time_and_another_takes_over_after_release(
    two_stores: tuple[Store, Store],
) -> None:
    mine, theirs = (AdvisoryLock(store, "job:ticket-timers") for store in two_stores)
    assert mine.acquire()
    assert mine.acquire()  # held already: checked, not stacked
    assert not theirs.acquire()
    mine.release()
    assert theirs.acquire()
    assert not mine.acquire()
    theirs.release()


def test_a_holder_whose_connection_dies_loses_the_lock(two_stores: tuple[Store, Store]) -> None:
    mine, theirs = (AdvisoryLock(store, "job:ticket-timers") for store in two_stores)
    assert mine.acquire()
    with two_stores[1].engine.connect() as connection:  # as when its daemon is killed
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
            )
        )
    assert theirs.acquire()
    assert not mine.still_held()
    theirs.release()
