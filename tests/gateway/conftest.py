"""Shared fixtures of the gateway unit tests: a small valid config built from a dict, an
[[imap]] mailbox's settings, and a migrated SQLite store in tmp_path. Nothing here opens a
socket or starts a process."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Config, Imap, Outbound, build_config
from gateway.store.engine import Store

SECRET = "unit-test-secret-0123456789"


@pytest.fixture
def config_data() -> dict[str, Any]:
    """A valid config as tomllib hands it over; each test gets its own copy to change."""
    return {
        "partner": {
            "name": "Contoso Cloud",
            "address": "support@contoso.example",
            "domains": ["contoso.example"],
            "ticket_tag": "CONTOSO",
            "secret": SECRET,
        },
        "support": {"first_response": "4h"},
        "storage": {"url": "sqlite:///var/gateway.db"},
        "outbound": {
            "relay": "maildir:var/outgoing",
            "give_up_after": "3d",
            "retry_initial": "30s",
            "retry_max": "1h",
        },
        "microsoft": {
            "escalation_address": "escalations@contoso.example",
            "reply_domains": ["microsoft.com"],
        },
        "parties": [
            {
                "id": "northwind",
                "name": "Northwind Distribution",
                "address": "csp-support@northwind.example",
            }
        ],
        "customers": [
            {
                "id": "fabrikam",
                "name": "Fabrikam BV",
                "domains": ["fabrikam.example"],
                "tenant": "fabrikam.onmicrosoft.com",
                "billing": "direct",
                "language": "nl",
            },
            {
                "id": "adatum",
                "name": "Adatum Corporation",
                "domains": ["adatum.example"],
                "addresses": ["it-admin@adatum-mail.example"],
                "billing": "indirect",
                "provider": "northwind",
                "language": "en",
            },
        ],
        "agents": [
            {
                "address": "jan@contoso.example",
                "name": "Jan de Vries",
                "customers": ["*"],
                "queues": ["helpdesk"],
                "language": "nl",
            },
            {
                "address": "priya@contoso.example",
                "name": "Priya Raman",
                "roles": ["service-support-admin", "admin-agent"],
                "customers": ["fabrikam"],
                "queues": ["helpdesk", "sales"],
            },
        ],
        "rules": [
            {
                "name": "Subscription changes stay with us",
                "when": {"words": ["subscription", "cancel"]},
                "then": {"action": "handle", "queue": "sales"},
            }
        ],
    }


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[[dict[str, Any]], Config]:
    """Validate a config dict as if it were read from tmp_path/config.toml."""

    def make(data: dict[str, Any]) -> Config:
        return build_config(data, tmp_path / "config.toml")

    return make


@pytest.fixture
def config(config_data: dict[str, Any], make_config: Callable[[dict[str, Any]], Config]) -> Config:
    return make_config(config_data)


@pytest.fixture
def imap_settings(
    config_data: dict[str, Any], make_config: Callable[[dict[str, Any]], Config]
) -> Imap:
    config_data["imap"] = [{"name": "support", "host": "127.0.0.1", "username": "support",
                            "password": "secret"}]  # fmt: skip
    return make_config(config_data).imap[0]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real Store on a SQLite file, migrated by Alembic as the daemon does on start."""
    store = Store(f"sqlite:///{tmp_path / 'gateway.db'}")
    store.migrate()
    yield store
    store.close()


def relay_settings(port: int, **changes: Any) -> Outbound:
    """`[outbound]` for a smarthost on 127.0.0.1:`port`, without AUTH unless `changes` say."""
    settings = Outbound(
        relay=f"127.0.0.1:{port}",
        host="127.0.0.1",
        port=port,
        maildir=None,
        starttls=False,
        username="",
        password="",
        auth="password",
        token_command="",
        give_up_after=timedelta(days=1),
        retry_initial=timedelta(minutes=1),
        retry_max=timedelta(hours=1),
    )
    return dataclasses.replace(settings, **changes)
