"""Billable time: what an agent's `#time` says, and what a month's time costs under a plan.

Per ticket, the billable minutes of the month are added up (a correction is a negative entry),
rounded up to the plan's increment and raised to its minimum charge. The month's hours are
taken first from the hours the plan includes each month, then from a prepaid block, and the
rest is charged at the plan's rate. Money is Decimal, rounded to cents at the end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

_DURATION = re.compile(r"^(-)?(?:(\d{1,3})h)?(?:(\d{1,4})(?:m|min)?)?$", re.IGNORECASE)
NONBILLABLE = ("nonbillable", "non-billable", "unbillable", "nb")
MAX_MINUTES = 24 * 60  # one entry; more is a typo (#time 450 for 4h50)


class TimeError(ValueError):
    """The `#time` argument cannot be read; the text says how to write it."""


@dataclass(frozen=True)
class TimeEntry:
    minutes: int  # negative for a correction
    billable: bool
    note: str


def parse_time(argument: str) -> TimeEntry:
    """`45m`, `1h30`, `1h 30m`, `90`, `-15m`, then optionally `nonbillable`, then a note."""
    words = argument.split()
    if not words:
        raise TimeError("say how long, e.g. #time 45m or #time 1h30 nonbillable")
    spent = words.pop(0)
    if words and re.fullmatch(r"\d{1,4}m(in)?", words[0], re.IGNORECASE) and spent.endswith("h"):
        spent += words.pop(0)  # "1h 30m"
    match = _DURATION.match(spent)
    if not match or not (match[2] or match[3]):
        raise TimeError(f"{spent!r} is not a duration such as 45m, 1h30 or -15m")
    minutes = int(match[2] or 0) * 60 + int(match[3] or 0)
    if minutes == 0 or minutes > MAX_MINUTES:
        raise TimeError(f"{spent!r}: an entry is between 1 minute and 24 hours")
    billable = not (words and words[0].lower() in NONBILLABLE)
    if not billable:
        words.pop(0)
    return TimeEntry(-minutes if match[1] else minutes, billable, " ".join(words))


@dataclass(frozen=True)
class Pricing:
    rate: Decimal  # per hour
    rounding_minutes: int  # each ticket's time is rounded up to a multiple of this
    minimum_minutes: int  # charged at least, per ticket with time on it
    included_hours: Decimal  # per month
    prepaid_hours_left: Decimal  # of a block, at the start of the month


@dataclass(frozen=True)
class MonthCharge:
    billable_hours: Decimal  # after rounding and minimums
    included_used: Decimal
    prepaid_used: Decimal
    prepaid_left: Decimal
    charged_hours: Decimal
    amount: Decimal


def ticket_minutes(entries_minutes: list[int], pricing: Pricing) -> int:
    """A ticket's billable minutes of the month, rounded up and raised to the minimum."""
    total = sum(entries_minutes)
    if total <= 0:
        return 0
    step = max(1, pricing.rounding_minutes)
    rounded = -(-total // step) * step
    return max(rounded, pricing.minimum_minutes)


def month_charge(minutes_by_ticket: Mapping[str, list[int]], pricing: Pricing) -> MonthCharge:
    minutes = sum(ticket_minutes(entries, pricing) for entries in minutes_by_ticket.values())
    hours = Decimal(minutes) / 60
    included = min(hours, pricing.included_hours)
    prepaid = min(hours - included, pricing.prepaid_hours_left)
    charged = hours - included - prepaid
    amount = (charged * pricing.rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return MonthCharge(
        billable_hours=hours,
        included_used=included,
        prepaid_used=prepaid,
        prepaid_left=pricing.prepaid_hours_left - prepaid,
        charged_hours=charged,
        amount=amount,
    )


def usage_thresholds_crossed(before: Decimal, after: Decimal, allowance: Decimal) -> list[int]:
    """The percentages (80, 100) of an allowance (included or prepaid hours) that the use went
    past between `before` and `after`: each is told once."""
    if allowance <= 0:
        return []
    return [p for p in (80, 100) if before < allowance * p / 100 <= after]


def prepaid_left(
    months: Sequence[Mapping[str, list[int]]], block_hours: Decimal, pricing: Pricing
) -> Decimal:
    """What is left of a prepaid block after the months before, oldest first: each month takes
    its included hours first, then draws on the block."""
    left = block_hours
    for minutes_by_ticket in months:
        left = month_charge(
            minutes_by_ticket, replace(pricing, prepaid_hours_left=left)
        ).prepaid_left
    return left


def usage_reached(used: Decimal, allowance: Decimal) -> list[int]:
    """The percentages (80, 100) of an allowance that `used` has reached; the caller tells
    each once (a durable record per customer, month or block, and percentage)."""
    if allowance <= 0:
        return []
    return [p for p in (80, 100) if used >= allowance * p / 100]
