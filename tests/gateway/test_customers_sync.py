"""`customers sync` against the Partner Center stand-in: the generated file, dry runs, and a
customer written by hand left alone."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

from gateway.microsoft.customers import sync
from routing.customer_sync import Known
from tests.e2e.microsoft_standin import MicrosoftStandIn
from tests.gateway.test_partner_center import partner_center_for

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_sync_writes_new_customers_and_leaves_hand_written_ones(tmp_path: Path) -> None:
    standin = MicrosoftStandIn(tmp_path / "standin")
    standin.start()
    try:
        standin.add_customer(
            "aaaa-1", "Fabrikam BV", "fabrikam.onmicrosoft.com", "fabrikam.example"
        )
        standin.add_customer("bbbb-2", "Wingtip Toys", "wingtip.onmicrosoft.com", "wingtip.example")
        partner_center = partner_center_for(standin, tmp_path, timeout=5.0)
        hand = [Known("fabrikam", "Fabrikam BV", "fabrikam.onmicrosoft.com", ("fabrikam.example",))]
        path = tmp_path / "var" / "customers.generated.toml"

        dry = sync(partner_center, path, hand, "direct", "", NOW, dry_run=True)
        assert not path.exists()
        assert [c.id for c in dry.customers] == ["wingtip-toys"]

        result = sync(partner_center, path, hand, "direct", "", NOW)
        assert result.changes[1] == (
            "added wingtip-toys: Wingtip Toys, wingtip.onmicrosoft.com, wingtip.example"
        )
        data = tomllib.loads(path.read_text())
        assert data["customers"] == [
            {
                "id": "wingtip-toys",
                "name": "Wingtip Toys",
                "tenant": "bbbb-2",
                "domains": ["wingtip.onmicrosoft.com", "wingtip.example"],
                "billing": "direct",
            }
        ]
        written = path.read_text()
        again = sync(partner_center, path, hand, "direct", "", NOW.replace(hour=10))
        assert not again.changed and path.read_text() == written  # nothing changed, not rewritten
    finally:
        standin.close()
