"""Ticket numbers: never the same twice."""

from __future__ import annotations

from sqlalchemy import (
    bindparam,
    select,
    text,
    update,
)

from gateway.store.batch import Batch
from gateway.store.models import Counter


def next_ticket_number(batch: Batch) -> int:
    """Never the same twice. On PostgreSQL a sequence (migration 0005: it locks nothing, so
    daemons sharing the database do not wait for each other's batches; numbers may have gaps)."""
    connection = batch.session.connection()
    if connection.dialect.name == "postgresql":
        return int(connection.execute(_NEXT_FROM_SEQUENCE).scalar_one())
    if not batch.deferring:
        return int(connection.execute(_NEXT_TICKET_NUMBER).scalar_one())
    # In a processing batch, which holds SQLite's write lock from its first statement, the
    # counter is read once and its new value written with the batch's rows. The number comes
    # from the last value not yet written, so a message that fails (and whose rows are taken
    # back) leaves no gap; once written, the counter itself has it.
    waiting = batch.last(_SET_TICKET_NUMBER)
    current = waiting["value"] if waiting else connection.execute(_TICKET_NUMBER).scalar_one()
    batch.add(_SET_TICKET_NUMBER, {"value": current + 1})
    return int(current + 1)


# Core, built once: the ORM's bulk-update machinery cost a millisecond per ticket.
_NEXT_FROM_SEQUENCE = text("SELECT nextval('ticket_numbers')")


_COUNTERS = Counter.__table__


_NEXT_TICKET_NUMBER = (
    update(_COUNTERS)
    .where(_COUNTERS.c.name == "ticket")
    .values(value=_COUNTERS.c.value + 1)
    .returning(_COUNTERS.c.value)
)


_TICKET_NUMBER = select(_COUNTERS.c.value).where(_COUNTERS.c.name == "ticket")


_SET_TICKET_NUMBER = (
    update(_COUNTERS).where(_COUNTERS.c.name == "ticket").values(value=bindparam("value"))
)
