"""The shipped config.toml's CSP policy, through `gatewayd route --explain`, in English and
Dutch: every category that goes upstream, subscriptions, known incidents, non-CSP questions."""

from __future__ import annotations

import json
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

CASES = [
    ("anna@fabrikam.example", "We want 5 more licenses", "Subscription changes stay with us"),
    (
        "anna@fabrikam.example",
        "Wij willen ons abonnement opzeggen",
        "Subscription changes stay with us",
    ),
    ("anna@fabrikam.example", "Outlook cannot send mail since nine", "Known incident"),
    (
        "carl@adatum.example",
        "My Xbox account is locked",
        "Non-CSP products of direct Microsoft customers",
    ),
    ("anna@fabrikam.example", "Outage: nobody can log in", "Large network outage"),
    ("anna@fabrikam.example", "Storing: niemand kan inloggen", "Large network outage"),
    ("anna@fabrikam.example", "Slow in the West Europe region", "Regional problem across tenants"),
    (
        "anna@fabrikam.example",
        "Traag in regio West-Europa, ook bij andere bedrijven",
        "Regional problem across tenants",
    ),
    ("anna@fabrikam.example", "SharePoint unavailable for us", "Service unavailable"),
    ("anna@fabrikam.example", "SharePoint is niet beschikbaar", "Service unavailable"),
    (
        "anna@fabrikam.example",
        "Retention is not as documented",
        "Fault against the service description",
    ),
    (
        "anna@fabrikam.example",
        "Bewaren werkt niet volgens de documentatie",
        "Fault against the service description",
    ),
    ("anna@fabrikam.example", "Bug: the save button does nothing", "Bug in look or function"),
    ("anna@fabrikam.example", "In het beheercentrum: knop doet niets", "Bug in look or function"),
    ("anna@fabrikam.example", "Question about our invoice", None),
]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The shipped known issue ends on a fixed date; the policy must be testable after it.
    text = (
        (REPO / "config.toml").read_text().replace("2026-12-01T00:00:00Z", "2999-01-01T00:00:00Z")
    )
    path = tmp_path_factory.mktemp("policy") / "config.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("sender", "subject", "rule"), CASES)
def test_route_explain_follows_the_shipped_policy(
    config: Path, tmp_path: Path, sender: str, subject: str, rule: str | None
) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "support@contoso.example", subject
    message.set_content(subject + ".\n\nThanks / Bedankt")
    path = tmp_path / "mail.eml"
    path.write_bytes(message.as_bytes())
    result = subprocess.run(
        [
            sys.executable,
            "gatewayd.py",
            "route",
            "--explain",
            str(path),
            "--json",
            "--config",
            str(config),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["rule"] == rule, decision["trace"]
    if rule is None:
        assert (decision["action"], decision["queue"]) == ("handle", "helpdesk")
    matched = [step for step in decision["trace"] if step["matched"]]
    assert len(matched) == (1 if rule else 0)
