"""The advisory lock that lets one daemon at a time run the ticket timers or read a mailbox, on
a real PostgreSQL cluster: held by one holder, refused to another, taken over when the holder
lets go or its connection dies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from gateway.config import load_config
from gateway.delivery.templates import Templates
from gateway.processing import timers
from gateway.store.engine import Store
from gateway.store.locks import AdvisoryLock
from gateway.store.models import Event
from tests.e2e import postgres
from tests.e2e.conftest import config_text, wait_for
from tests.e2e.ports import free_port
from tests.gateway.test_timers import make_ticket

pytestmark = pytest.mark.skipif(not postgres.available(), reason="installed by make test")


@pytest.fixture
def two_stores(database: str) -> Iterator[tuple[Store, Store]]:
    """Two daemons' stores on one database."""
    first, second = Store(database), Store(database)
    first.migrate()
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def locks(two_stores: tuple[Store, Store]) -> Iterator[tuple[AdvisoryLock, AdvisoryLock]]:
    """The ticket timers' lock as each of the two daemons asks for it, released at the end
    even when the test fails (a connection left open would fail a later test)."""
    mine, theirs = (AdvisoryLock(store, "job:ticket-timers") for store in two_stores)
    yield mine, theirs
    mine.release()
    theirs.release()


def test_one_holder_at_a_time_and_another_takes_over_after_release(
    locks: tuple[AdvisoryLock, AdvisoryLock],
) -> None:
    mine, theirs = locks
    assert mine.acquire()
    assert mine.acquire()  # held already: checked, not stacked
    assert not theirs.acquire()
    mine.release()
    assert theirs.acquire()  # at once: released, not left for the backend's end to free
    assert not mine.acquire()


def test_a_holder_whose_connection_dies_loses_the_lock(
    two_stores: tuple[Store, Store], locks: tuple[AdvisoryLock, AdvisoryLock]
) -> None:
    mine, theirs = locks
    assert mine.acquire()
    with two_stores[1].engine.connect() as connection:  # as when its daemon is killed
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
            )
        )
    # The killed backend frees its locks when it has exited, a moment after the signal; the
    # other daemon asks again on its next tick, as here.
    wait_for(theirs.acquire, timeout=5, what="the lock taken over")
    assert not mine.still_held()


def test_the_ticket_timers_run_in_the_lock_holder_only(
    two_stores: tuple[Store, Store], locks: tuple[AdvisoryLock, AdvisoryLock], tmp_path: Path
) -> None:
    """What each daemon's scheduled job calls (Jobs.ticket_timers): a ticket due for its
    first-response reminder is reminded by the holder, never by the other daemon as well."""
    path = tmp_path / "config.toml"
    # Always open: a quarter of the 4 h first-response target is left after 3 h, whatever the
    # time of day the test runs at.
    text = config_text(free_port(), "maildir:outgoing")
    path.write_text(text.replace('hours = "Mon-Fri 08:00-18:00"', 'hours = "24x7"'))
    config = load_config(path, create_secret=True)
    (mine, theirs), due = two_stores, config.support.first_response * 0.9
    my_lock, their_lock = locks

    make_ticket(mine, "new", due)
    assert counts(timers.run_ticket_timers(mine, my_lock, config, Templates())) == (0, 1)
    make_ticket(theirs, "new", due)
    assert timers.run_ticket_timers(theirs, their_lock, config, Templates()) is None
    assert reminded(mine) == 1

    my_lock.release()  # as when the holder's daemon stops
    assert counts(timers.run_ticket_timers(theirs, their_lock, config, Templates())) == (0, 1)
    assert reminded(mine) == 2


def reminded(store: Store) -> int:
    with store.reader() as session:
        return len(session.scalars(select(Event.id).where(Event.what == "reminded")).all())


def counts(ran: timers.TimerCounts | None) -> tuple[int, int]:
    """(closed, reminded): the digest and statements depend on the day (tests/e2e/test_plans.py)."""
    assert ran is not None
    return ran.closed, ran.reminded
