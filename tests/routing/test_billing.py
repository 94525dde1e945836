"""routing/billing.py: #time arguments, rounding, minimums, included and prepaid hours."""

from __future__ import annotations

from decimal import Decimal

import pytest

from routing.billing import (
    Pricing,
    TimeEntry,
    TimeError,
    month_charge,
    parse_time,
    prepaid_left,
    ticket_minutes,
    usage_reached,
    usage_thresholds_crossed,
)

PLAN = Pricing(
    rate=Decimal("95"),
    rounding_minutes=15,
    minimum_minutes=15,
    included_hours=Decimal("2"),
    prepaid_hours_left=Decimal("1.5"),
)


@pytest.mark.parametrize(
    ("argument", "entry"),
    [
        ("45m", TimeEntry(45, True, "")),
        ("1h30", TimeEntry(90, True, "")),
        ("1h 30m", TimeEntry(90, True, "")),
        ("2h", TimeEntry(120, True, "")),
        ("90", TimeEntry(90, True, "")),
        ("20m nonbillable", TimeEntry(20, False, "")),
        ("20M Non-Billable phone call with Anna", TimeEntry(20, False, "phone call with Anna")),
        ("-15m booked twice", TimeEntry(-15, True, "booked twice")),
        ("30min reset MFA", TimeEntry(30, True, "reset MFA")),
    ],
)
def test_time_arguments(argument: str, entry: TimeEntry) -> None:
    assert parse_time(argument) == entry


@pytest.mark.parametrize("argument", ["", "soon", "0m", "25h", "h", "1.5h", "m"])
def test_unreadable_time_is_refused_with_how_to_write_it(argument: str) -> None:
    with pytest.raises(TimeError):
        parse_time(argument)


@pytest.mark.parametrize(
    ("entries", "minutes"),
    [
        ([5], 15),  # the minimum
        ([16], 30),  # rounded up to the increment
        ([30, 15], 45),
        ([30, -30], 0),  # corrected away: no minimum charge
        ([10, -20], 0),
        ([46], 60),
    ],
)
def test_a_tickets_minutes(entries: list[int], minutes: int) -> None:
    assert ticket_minutes(entries, PLAN) == minutes


def test_included_hours_first_then_the_prepaid_block_then_the_rate() -> None:
    charge = month_charge({"1": [60], "2": [100], "3": [50]}, PLAN)  # 60 + 105 + 60 minutes
    assert charge.billable_hours == Decimal("3.75")
    assert (charge.included_used, charge.prepaid_used) == (Decimal(2), Decimal("1.5"))
    assert charge.charged_hours == Decimal("0.25")
    assert charge.amount == Decimal("23.75")
    assert charge.prepaid_left == Decimal(0)


def test_a_quiet_month_costs_nothing_and_keeps_the_block() -> None:
    charge = month_charge({"1": [20]}, PLAN)
    assert (charge.amount, charge.prepaid_left) == (Decimal("0.00"), Decimal("1.5"))


def test_usage_thresholds_are_crossed_once() -> None:
    allowance = Decimal(10)
    assert usage_thresholds_crossed(Decimal(7), Decimal("8.5"), allowance) == [80]
    assert usage_thresholds_crossed(Decimal("8.5"), Decimal(9), allowance) == []
    assert usage_thresholds_crossed(Decimal(7), Decimal(12), allowance) == [80, 100]
    assert usage_thresholds_crossed(Decimal(0), Decimal(5), Decimal(0)) == []


def test_a_prepaid_block_is_drawn_down_month_after_month() -> None:
    block = Decimal(5)
    months = [{"1": [180]}, {"2": [240]}]  # 3h and 4h; 2h included each month
    assert prepaid_left(months, block, PLAN) == Decimal(2)  # 5 - 1 - 2
    assert prepaid_left([{"1": [600]}], block, PLAN) == Decimal(0)  # used up, the rest charged
    assert prepaid_left([], block, PLAN) == block


def test_usage_reached() -> None:
    assert usage_reached(Decimal(8), Decimal(10)) == [80]
    assert usage_reached(Decimal("7.99"), Decimal(10)) == []
    assert usage_reached(Decimal(11), Decimal(10)) == [80, 100]
    assert usage_reached(Decimal(3), Decimal(0)) == []
