"""gateway/microsoft/polls.py's care of the kept Partner Center sign-in: renewed daily, the
admin-agents warned before it ends unused, told when Entra ID refuses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Config
from gateway.microsoft.polls import MicrosoftPolls
from tests.e2e.microsoft_standin import CLIENT_ID, CLIENT_SECRET, PARTNER_TENANT, MicrosoftStandIn
from tests.gateway.test_partner_center import partner_center_for


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[MicrosoftStandIn]:
    server = MicrosoftStandIn(tmp_path / "standin")
    server.start()
    yield server
    server.close()


@pytest.fixture
def polls(
    standin: MicrosoftStandIn,
    tmp_path: Path,
    make_config: Any,
    config_data: dict[str, Any],
) -> tuple[MicrosoftPolls, list[tuple[str, str, str]]]:
    partner_center_for(standin, tmp_path, timeout=5.0)  # the admin's login: tmp_path/token.json
    config_data["microsoft"] = {
        **config_data.get("microsoft", {}),
        "escalation": "partner_center",
        "escalation_address": "escalations@microsoft.example",
        "tenant_id": PARTNER_TENANT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_file": "token.json",
        "authority": standin.url,
        "partner_center_url": standin.partner_center_url,
        "ca_file": str(standin.ca_file),
        "timeout": "2s",
    }
    config: Config = make_config(config_data)
    told: list[tuple[str, str, str]] = []
    return MicrosoftPolls(None, config, None, lambda *notice: told.append(notice)), told  # type: ignore[arg-type]


def renewed_days_ago(token_file: Path, days: int) -> None:
    data = json.loads(token_file.read_text())
    data["refreshed_at"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    token_file.write_text(json.dumps(data))


def test_a_sign_in_unused_for_a_day_is_renewed(
    polls: tuple[MicrosoftPolls, list[Any]], tmp_path: Path
) -> None:
    poll, told = polls
    renewed_days_ago(tmp_path / "token.json", 80)
    assert poll._signed_in()
    refreshed = json.loads((tmp_path / "token.json").read_text())["refreshed_at"]
    assert datetime.fromisoformat(refreshed) > datetime.now(UTC) - timedelta(minutes=1)
    assert told == []  # renewed: nothing to warn of


def test_the_admins_are_warned_before_90_days_when_it_cannot_be_renewed(
    polls: tuple[MicrosoftPolls, list[Any]], standin: MicrosoftStandIn, tmp_path: Path
) -> None:
    poll, told = polls
    renewed_days_ago(tmp_path / "token.json", 80)
    standin.stop()  # Entra ID out of reach: a temporary fault, the warning still comes
    assert poll._signed_in()
    ((problem, subject, text),) = told
    assert problem == "microsoft-sign-in-ageing" and "ends soon" in subject
    assert "gatewayd microsoft login" in text


def test_a_refused_sign_in_is_told(
    polls: tuple[MicrosoftPolls, list[Any]], standin: MicrosoftStandIn, tmp_path: Path
) -> None:
    poll, told = polls
    standin.revoke_refresh_tokens()
    renewed_days_ago(tmp_path / "token.json", 2)
    poll._signed_in()
    assert [notice[0] for notice in told] == ["microsoft-sign-in"]
    assert "AADSTS700082" in told[0][2]
    (tmp_path / "token.json").unlink()
    told.clear()
    assert not poll._signed_in()
    assert "no Partner Center sign-in is kept" in told[0][2]
