"""gateway/intake/smtp.py: the memory budget for message data, and DATA read against it."""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path
from typing import Any

import pytest

from gateway.intake.smtp_session import Allowance, MemoryBudget, OutOfBudget, budget_for
from tests.e2e.conftest import PARTNER
from tests.e2e.test_hostile import config_in, smtp_intake

MB = 10**6


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 10))


def test_the_budget_holds_a_message_of_the_largest_size() -> None:
    assert budget_for(25 * MB) == 50 * MB
    assert budget_for(250 * MB) == 250 * MB
    assert budget_for(25 * MB, memory=30 * MB) == 25 * MB


def test_the_budget_keeps_room_for_the_store_to_write_the_largest_message() -> None:
    """smtp.memory bounds all message data in the daemon, the store's copy of the message it
    writes too (STORAGE_COPIES): the sessions share the rest."""
    assert budget_for(25 * MB, memory=200 * MB) == 150 * MB
    assert budget_for(1 * MB) == 98 * MB
    assert budget_for(0) == 100 * MB  # no size limit: nothing to keep room for


def test_a_session_waits_until_memory_is_given_back() -> None:
    async def scenario() -> list[str]:
        budget = MemoryBudget(10 * MB)
        first, second = Allowance(budget), Allowance(budget)
        await first.grow(8 * MB, in_data=False)
        events: list[str] = []

        async def second_session() -> None:
            await second.grow(5 * MB, in_data=False)
            events.append("second admitted")

        waiting = asyncio.create_task(second_session())
        await asyncio.sleep(0.05)
        events.append("first done")
        first.release()
        await waiting
        assert budget.in_use == 5 * MB
        return events

    assert run(scenario()) == ["first done", "second admitted"]


def test_sessions_in_data_go_before_new_ones() -> None:
    async def scenario() -> list[str]:
        budget = MemoryBudget(10 * MB)
        reading, other, new = Allowance(budget), Allowance(budget), Allowance(budget)
        await reading.grow(4 * MB, in_data=False)
        await other.grow(6 * MB, in_data=False)
        order: list[str] = []

        async def grow(allowance: Allowance, name: str, amount: int, in_data: bool) -> None:
            await allowance.grow(amount, in_data=in_data)
            order.append(name)

        admission = asyncio.create_task(grow(new, "new", 3 * MB, False))
        await asyncio.sleep(0)
        top_up = asyncio.create_task(grow(reading, "reading", 3 * MB, True))
        await asyncio.sleep(0)
        other.release()
        await asyncio.gather(admission, top_up)
        return order

    assert run(scenario()) == ["reading", "new"]


def test_when_every_holder_waits_for_more_the_newest_gives_way_at_once() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(10 * MB, patience=30)
        older, newer = Allowance(budget), Allowance(budget)
        await older.grow(5 * MB, in_data=False)
        await newer.grow(5 * MB, in_data=False)
        waiting = asyncio.create_task(older.grow(1 * MB, in_data=True))
        await asyncio.sleep(0)
        with pytest.raises(OutOfBudget):
            await newer.grow(1 * MB, in_data=True)  # a deadlock: no 30 s wait
        newer.release()
        await waiting
        assert older.held == 6 * MB

    run(scenario())


def test_waiting_is_bounded() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(10 * MB, patience=0.1)
        holder, late = Allowance(budget), Allowance(budget)
        await holder.grow(10 * MB, in_data=False)  # e.g. a client stalled mid-DATA
        with pytest.raises(OutOfBudget):
            await late.grow(1 * MB, in_data=False)
        holder.release()
        await late.grow(1 * MB, in_data=False)  # nothing left behind in the queue
        assert budget.in_use == 1 * MB

    run(scenario())


# --- DATA read into one buffer -------------------------------------------------------------------


def test_data_is_dot_unstuffed_and_kept_as_sent(tmp_path: Path) -> None:
    message = (
        b"From: anna@fabrikam.example\r\nSubject: Dots\r\n\r\n"
        b".\r\n..two\r\n.leading dot\r\nlast line without a dot\r\n"
    )
    with (
        smtp_intake(config_in(tmp_path), timeout=10) as (port, committed),
        smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp,
    ):
        assert smtp.sendmail("anna@fabrikam.example", [PARTNER], message) == {}
    (item,) = committed.items
    assert item.data == message
