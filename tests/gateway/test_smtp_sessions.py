"""gateway/intake/smtp_limits.py: the caps on SMTP sessions, in all and per client address."""

from __future__ import annotations

import logging
import resource

import pytest

from gateway.intake.smtp_limits import (
    TOO_MANY_FROM_YOU,
    TOO_MANY_IN_ALL,
    SessionLimits,
    raise_descriptor_limit,
)


def test_a_client_is_capped_while_another_is_served() -> None:
    limits = SessionLimits(total=5, per_ip=2)

    assert limits.admit("192.0.2.1") is None
    assert limits.admit("192.0.2.1") is None
    assert limits.admit("192.0.2.1") == TOO_MANY_FROM_YOU
    assert limits.admit("192.0.2.2") is None
    assert (limits.open, limits.by_ip["192.0.2.1"]) == (3, 2)


def test_the_total_cap_holds_for_every_client() -> None:
    limits = SessionLimits(total=2, per_ip=2)
    limits.admit("192.0.2.1")
    limits.admit("192.0.2.2")

    assert limits.admit("192.0.2.3") == TOO_MANY_IN_ALL


def test_a_session_that_ends_makes_room() -> None:
    limits = SessionLimits(total=1, per_ip=1)
    limits.admit("192.0.2.1")
    limits.release("192.0.2.1")

    assert limits.admit("192.0.2.1") is None
    assert "192.0.2.2" not in limits.by_ip


def test_a_refused_client_is_logged_once_a_minute_with_its_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    limits = SessionLimits(total=10, per_ip=1, clock=lambda: now[0])
    limits.admit("192.0.2.1")
    with caplog.at_level(logging.WARNING, logger="gateway.intake"):
        for _ in range(5):
            limits.admit("192.0.2.1")
        now[0] += 61
        limits.admit("192.0.2.1")

    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2
    assert "refused=1" in logged[0] and "refused=5" in logged[1]


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        assert raise_descriptor_limit() == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
