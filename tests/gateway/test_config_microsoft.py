"""gateway/config/microsoft.py: [microsoft], [directory] and the generated customer file, each
problem naming its key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from gateway.config import Config
from tests.gateway.test_config import MakeConfig, problems_of

APP = {"tenant_id": "contoso.onmicrosoft.com", "client_id": "0b9a6d3e", "client_secret": "s3cret"}


def with_(data: dict[str, Any], **tables: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    for name, table in tables.items():
        changed[name] = {**changed.get(name, {}), **table}
    return changed


def test_defaults_are_email_and_microsofts_public_cloud(
    config: Config, make_config: MakeConfig, config_data: dict[str, Any]
) -> None:
    microsoft = config.microsoft
    assert microsoft.escalation == "email"
    assert microsoft.authority == "https://login.microsoftonline.com"
    assert microsoft.graph_url == "https://graph.microsoft.com"
    assert microsoft.token_file == config.base_dir / "var" / "microsoft-token.json"
    assert not microsoft.signs_in
    signed = make_config(with_(config_data, microsoft=APP)).microsoft
    assert signed.signs_in and "s3cret" not in repr(signed)  # a secret is never shown


def test_partner_center_needs_the_app_and_the_fallback_address(
    make_config: MakeConfig, config_data: dict[str, Any]
) -> None:
    data = with_(config_data, microsoft={"escalation": "partner_center"})
    data["microsoft"].pop("escalation_address", None)
    problems = problems_of(make_config, data)
    assert (
        'microsoft.tenant_id: is required with escalation = "partner_center" (the sign-in)'
        in problems
    )
    assert (
        'microsoft.escalation_address: is required with escalation = "partner_center" '
        "(the e-mail fallback)"
    ) in problems


def test_bad_values_name_their_keys(make_config: MakeConfig, config_data: dict[str, Any]) -> None:
    data = with_(
        config_data,
        microsoft={
            **APP,
            "escalation": "portal",
            "authority": "http://login.example",
            "support_topics": {"Service unavailable": ""},
            "certificate_file": "missing.pem",
            "poll": "0s",
        },
    )
    problems = problems_of(make_config, data)
    assert any(
        p.startswith('microsoft.escalation: must be "email" or "partner_center"') for p in problems
    )
    assert "microsoft.authority: must be an https:// URL, got 'http://login.example'" in problems
    assert any(p.startswith("microsoft.support_topics: 'Service unavailable'") for p in problems)
    assert "microsoft.client_secret: give client_secret or certificate_file" in problems
    assert "microsoft.certificate_file: no such file" in problems
    assert any(p.startswith("microsoft.poll:") for p in problems)


def test_auth_microsoft_needs_the_apps_credentials(
    make_config: MakeConfig, config_data: dict[str, Any]
) -> None:
    data = with_(config_data, outbound={"relay": "127.0.0.1:587", "auth": "microsoft"})
    (problem,) = [p for p in problems_of(make_config, data) if "auth" in p]
    assert problem.startswith('outbound.auth: auth = "microsoft" needs microsoft.tenant_id')
    ok = make_config(with_(data, microsoft=APP))
    assert ok.outbound.auth == "microsoft" and ok.microsoft.signs_in


def test_the_generated_file_adds_customers_and_loses_to_hand_written_ones(
    make_config: MakeConfig, config_data: dict[str, Any], tmp_path: Path
) -> None:
    hand = config_data["customers"][0]
    generated = tmp_path / "var" / "customers.generated.toml"
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_text(
        f"""\
[[customers]]
id = "wingtip-toys"
name = "Wingtip Toys"
tenant = "9c3f2e77"
domains = ["wingtip.example"]
billing = "direct"

[[customers]]
id = "twin"
name = "Same domain as a hand-written one"
domains = ["{hand["domains"][0]}"]
billing = "direct"
"""
    )
    config = make_config(with_(config_data, directory={"file": "var/customers.generated.toml"}))
    ids = [c.id for c in config.customers]
    assert "wingtip-toys" in ids and "twin" not in ids
    assert config.generated_customers == {"wingtip-toys"}
    generated.write_text(
        generated.read_text().replace('billing = "direct"', 'billing = "dirct"', 1)
    )
    problems = problems_of(
        make_config, with_(config_data, directory={"file": "var/customers.generated.toml"})
    )
    assert problems[0].startswith("directory.file: customers[0].billing: must be")


def test_a_graph_tenant_needs_the_tenant(
    make_config: MakeConfig, config_data: dict[str, Any]
) -> None:
    data = copy.deepcopy(config_data)
    data["customers"][0]["graph_tenant"] = True
    data["customers"][0].pop("tenant", None)
    assert "customers[0].graph_tenant: needs the customer's tenant" in problems_of(
        make_config, data
    )
