"""`gatewayd customers sync`: the partner's customers from Partner Center into the generated
customer file that config.toml includes (`[directory] file`). What goes in and what changed is
decided in routing/customer_sync.py; this module reads and writes."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.microsoft.partner_center import PartnerCenter, PartnerCustomer
from routing.customer_sync import Generated, Known, Listed, Plan, plan

if TYPE_CHECKING:
    from gateway.config import Config

HEADER = """\
# Written by `gatewayd customers sync` from Partner Center, {when}.
# Do not edit: the next sync writes this file again. To change a customer, write it in
# config.toml: a customer there wins over one here (same tenant or a shared domain).
"""


def listed(customers: Sequence[PartnerCustomer]) -> list[Listed]:
    return [
        Listed(
            tenant_id=c.tenant_id,
            name=c.name or c.domain,
            domains=tuple(dict.fromkeys(d for d in (c.domain, *c.custom_domains) if d)),
            relationship=c.relationship,
        )
        for c in customers
    ]


def read_generated(path: Path) -> list[Known]:
    """The customers of the last sync; none when the file is missing."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return []
    entries = data.get("customers", [])
    return [
        Known(
            id=str(entry.get("id", "")),
            name=str(entry.get("name", "")),
            tenant=str(entry.get("tenant", "")),
            domains=tuple(str(d) for d in entry.get("domains", [])),
        )
        for entry in entries
        if isinstance(entry, dict)
    ]


def sync(
    partner_center: PartnerCenter,
    path: Path,
    by_hand: Sequence[Known],
    billing: str,
    provider: str,
    now: datetime,
    dry_run: bool = False,
) -> Plan:
    """Read Partner Center, plan, and (unless `dry_run` or nothing changed) write `path`."""
    result = plan(listed(partner_center.customers()), by_hand, read_generated(path))
    text = render(result.customers, billing, provider, now)
    if not dry_run and _body(text) != _body(_read(path)):
        write(path, text)
    return result


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _body(text: str | None) -> str | None:
    """The file without its first line, which says when it was written."""
    return None if text is None else text.partition("\n")[2]


def render(customers: Sequence[Generated], billing: str, provider: str, now: datetime) -> str:
    blocks = [HEADER.format(when=now.isoformat(timespec="seconds"))]
    for customer in customers:
        lines = ["[[customers]]"]
        if customer.gone:
            lines.insert(0, "# no longer listed by Partner Center")
        values: dict[str, Any] = {
            "id": customer.id,
            "name": customer.name,
            "tenant": customer.tenant,
            "domains": list(customer.domains),
            "billing": billing,
        }
        if billing == "indirect":
            values["provider"] = provider
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
        if customer.relationship:
            lines.append(f"# relationshipToPartner: {customer.relationship}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _toml(value: Any) -> str:
    # A JSON string or array of strings is a TOML basic string or array (same escapes).
    return json.dumps(value, ensure_ascii=False)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def sync_from_config(config: Config, dry_run: bool) -> Plan:
    """The sync that [directory] asks for: by `gatewayd customers sync` and the daemon's timer."""
    from gateway.microsoft.clients import partner_center
    from gateway.store.models import utcnow

    settings = config.directory_settings
    assert settings.file is not None
    by_hand = [
        Known(c.id, c.name, c.tenant, c.domains)
        for c in config.customers
        if c.id not in config.generated_customers
    ]
    return sync(
        partner_center(config.microsoft),
        settings.file,
        by_hand,
        settings.billing,
        settings.provider,
        utcnow(),
        dry_run=dry_run,
    )
