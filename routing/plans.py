"""Support plans: what a partner promises a customer (service hours, response and resolution
targets per priority, which waits pause the clocks) and what it charges (rate, included and
prepaid hours, rounding, minimum). gateway/config builds them from `[[plans]]`; pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from routing.billing import Pricing
from routing.calendar import ServiceCalendar

PRIORITIES = ("low", "normal", "high", "urgent")
CLOCKS = ("first_response", "resolution")


Targets = tuple[tuple[str, timedelta], ...]  # (priority, service time); pairs pickle
_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1)}


def service_time(text: str, calendar: ServiceCalendar) -> timedelta:
    """A target as written ("4h", "3d", "1w2d") in service time: a day is a usual open day of
    the calendar and a week its open week, so "1d" in Mon-Fri 08:00-18:00 is 10 hours (by the
    same time the next working day) and in 24x7 is 24 hours. The text is a valid duration."""
    week, days = calendar.week()
    day = week / days if days else timedelta(0)
    units = {**_UNITS, "d": day, "w": week}
    return sum((int(n) * units[u] for n, u in _PART.findall(text.lower())), start=timedelta(0))


@dataclass(frozen=True)
class Plan:
    id: str
    calendar: ServiceCalendar
    # Per priority; a priority left out takes the target of "normal", and a plan without
    # any has no such clock.
    first_response: Targets = ()
    resolution: Targets = ()
    pause_while_upstream: bool = True
    rate: Decimal = Decimal(0)  # per hour
    currency: str = "EUR"
    included_hours: Decimal = Decimal(0)  # per month
    prepaid_hours: Decimal = Decimal(0)  # blocks bought, drawn down month after month
    rounding_minutes: int = 15
    minimum_minutes: int = 0
    statements: bool = False  # mail the monthly statement to the customer
    balance_notices: bool = False  # tell the customer too at 80 % and 100 % of their hours

    def target(self, clock: str, priority: str) -> timedelta | None:
        targets = dict(self.first_response if clock == "first_response" else self.resolution)
        return targets.get(priority) or targets.get("normal")

    def pricing(self, prepaid_left: Decimal) -> Pricing:
        return Pricing(
            rate=self.rate,
            rounding_minutes=self.rounding_minutes,
            minimum_minutes=self.minimum_minutes,
            included_hours=self.included_hours,
            prepaid_hours_left=prepaid_left,
        )
