"""gateway/delivery/reply_address.py: signed reply addresses that only the gateway can make."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from gateway.config import Config
from gateway.delivery.reply_address import (
    UPSTREAM_TAG,
    ReplyTarget,
    agent_tag,
    signed_reply_address,
    verify_reply_address,
)

JAN = agent_tag("jan@contoso.example")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _target(target: ReplyTarget | None) -> tuple[int, str] | None:
    return (target.ticket_number, target.tag) if target else None


def test_signed_address_round_trip(config: Config) -> None:
    address = signed_reply_address(config, 1042, JAN)

    assert address.startswith("support+1042.")
    assert address.endswith("@contoso.example")
    assert _target(verify_reply_address(config, address)) == (1042, JAN)


def test_customer_tag_round_trip(config: Config) -> None:
    address = signed_reply_address(config, 7, UPSTREAM_TAG)

    assert _target(verify_reply_address(config, address)) == (7, UPSTREAM_TAG)


def test_agent_tag_hides_the_agent_address_and_is_stable() -> None:
    assert agent_tag("Jan@Contoso.example") == JAN
    assert agent_tag("priya@contoso.example") != JAN
    assert "jan" not in JAN


def test_the_longest_address_fits_in_a_local_part(config: Config) -> None:
    address = signed_reply_address(config, 999_999_999_999, JAN)

    local = address.partition("@")[0]
    assert len(local) <= 64  # RFC 5321 §4.5.3.1.1
    assert _target(verify_reply_address(config, address)) == (999_999_999_999, JAN)


def test_verification_ignores_case(config: Config) -> None:
    address = signed_reply_address(config, 1042, JAN)

    assert _target(verify_reply_address(config, address.upper())) == (1042, JAN)


def _tamper_signature(address: str) -> str:
    local, _, domain = address.partition("@")
    signature = local.rpartition(".")[2]
    changed = ("b" if signature[0] == "a" else "a") + signature[1:]
    return f"{local.rpartition('.')[0]}.{changed}@{domain}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(_tamper_signature, id="tampered-signature"),
        pytest.param(lambda a: a.replace("+1042.", "+1043.", 1), id="other-ticket"),
        pytest.param(lambda a: a.replace(f".{JAN}.", f".{UPSTREAM_TAG}.", 1), id="other-tag"),
        pytest.param(lambda a: a.replace("@contoso.example", "@evil.example"), id="other-domain"),
        pytest.param(lambda a: a.replace("support+", "sales+", 1), id="other-local-part"),
        pytest.param(lambda a: a.rpartition(".")[0] + "@contoso.example", id="no-signature"),
        pytest.param(lambda a: "support@contoso.example", id="plain-partner-address"),
        pytest.param(lambda a: f"{a}.evil.example", id="suffix"),
    ],
)
def test_forged_addresses_are_rejected(config: Config, forge: Callable[[str], str]) -> None:
    address = signed_reply_address(config, 1042, JAN)
    forged = forge(address)

    assert forged != address
    assert verify_reply_address(config, forged) is None


def test_an_address_signed_with_another_secret_is_rejected(
    config: Config, config_data: dict[str, Any], make_config: Callable[[dict[str, Any]], Config]
) -> None:
    config_data["partner"]["secret"] = "another-secret-of-another-gateway"
    other = make_config(config_data)

    address = signed_reply_address(other, 1042, JAN)

    assert verify_reply_address(config, address) is None


def test_an_address_carries_the_day_it_was_made(config: Config) -> None:
    address = signed_reply_address(config, 1042, JAN, now=NOW)

    target = verify_reply_address(config, address)
    assert target is not None and target.issued == date(2026, 12, 1)
    assert target.fresh(NOW + timedelta(days=90), timedelta(days=90))
    assert not target.fresh(NOW + timedelta(days=92), timedelta(days=90))


def test_a_changed_day_breaks_the_signature(config: Config) -> None:
    address = signed_reply_address(config, 1042, JAN, now=NOW - timedelta(days=400))
    day = (NOW.date() - timedelta(days=400) - date(1970, 1, 1)).days
    renewed = address.replace(f".{day}.", f".{day + 400}.")

    assert renewed != address
    assert verify_reply_address(config, renewed) is None


def test_an_address_of_the_old_form_threads_but_counts_as_expired(config: Config) -> None:
    """Notifications sent before addresses carried their day (no day in the signed text)."""
    import base64
    import hashlib
    import hmac

    mac = hmac.new(config.partner.secret, f"1042.{JAN}".encode(), hashlib.sha256).digest()
    signature = base64.b32encode(mac[:10]).decode().lower()[:16]
    target = verify_reply_address(config, f"support+1042.{JAN}.{signature}@contoso.example")

    assert target is not None and (target.ticket_number, target.issued) == (1042, None)
    assert not target.fresh(NOW, timedelta(days=90))
