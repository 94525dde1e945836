"""routing/rate_limits.py: the caps, as a table."""

from __future__ import annotations

import pytest

from routing.rate_limits import (
    SessionCaps,
    SessionRefusal,
    may_notify,
    may_send_automatic,
    session_refusal,
)


@pytest.mark.parametrize(
    ("sent", "planned", "per_hour", "allowed"),
    [
        (0, 0, 5, True),
        (4, 0, 5, True),
        (5, 0, 5, False),  # the cap itself is not exceeded: the fifth was the last
        (4, 1, 5, False),  # the plan's own mail counts
        (0, 0, 0, False),  # automatic mail switched off
    ],
)
def test_automatic_mail_per_sender_and_hour(
    sent: int, planned: int, per_hour: int, allowed: bool
) -> None:
    assert may_send_automatic(sent, planned, per_hour) is allowed


CAPS = SessionCaps(total=500, per_address=50)


@pytest.mark.parametrize(
    ("in_all", "from_address", "refusal"),
    [
        (0, 0, None),
        (499, 49, None),
        (500, 0, SessionRefusal.IN_ALL),
        (10, 50, SessionRefusal.FROM_ADDRESS),
        (500, 50, SessionRefusal.FROM_ADDRESS),  # the address that caused it is told why
    ],
)
def test_sessions_in_all_and_per_address(
    in_all: int, from_address: int, refusal: SessionRefusal | None
) -> None:
    assert session_refusal(in_all, from_address, CAPS) is refusal


def test_a_notice_goes_once_per_interval() -> None:
    assert may_notify(0) and not may_notify(1)
