"""Support plans: what a partner promises a customer (service hours, response and resolution
targets per priority, which waits pause the clocks) and what it charges (rate, included and
prepaid hours, rounding, minimum). gateway/config builds them from `[[plans]]`; pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType

from routing.billing import Pricing
from routing.calendar import ServiceCalendar

PRIORITIES = ("low", "normal", "high", "urgent")
CLOCKS = ("first_response", "resolution")


def _no_targets() -> Mapping[str, timedelta]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Plan:
    id: str
    calendar: ServiceCalendar
    # Per priority; a priority left out takes the target of "normal", and a plan without
    # any has no such clock.
    first_response: Mapping[str, timedelta] = field(default_factory=_no_targets)
    resolution: Mapping[str, timedelta] = field(default_factory=_no_targets)
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
        targets = self.first_response if clock == "first_response" else self.resolution
        return targets.get(priority) or targets.get("normal")

    def pricing(self, prepaid_left: Decimal) -> Pricing:
        return Pricing(
            rate=self.rate,
            rounding_minutes=self.rounding_minutes,
            minimum_minutes=self.minimum_minutes,
            included_hours=self.included_hours,
            prepaid_hours_left=prepaid_left,
        )
