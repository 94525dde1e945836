"""Database faults as the program sees them: temporary (the sender retries) or not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, OperationalError


class StorageUnavailable(Exception):
    """The database cannot be reached or is locked: a temporary fault, the sender should retry."""


@contextmanager
def temporary_faults() -> Iterator[None]:
    """A database that is down, locked or gone is a temporary fault: StorageUnavailable."""
    try:
        yield
    except OperationalError as exc:
        raise StorageUnavailable(describe(exc)) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StorageUnavailable(describe(exc)) from exc
        raise


def describe(exc: DBAPIError) -> str:
    return first_line(exc.orig) if exc.orig else str(exc)


def first_line(error: BaseException) -> str:
    """The driver's message without its context lines (psycopg adds the query's position)."""
    return (str(error).splitlines() or [repr(error)])[0]
