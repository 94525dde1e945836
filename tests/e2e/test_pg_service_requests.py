"""Two daemons' workers on one PostgreSQL database file one escalation once: the queued row is
claimed FOR UPDATE SKIP LOCKED for the whole call to Partner Center (the HTTPS stand-in)."""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.config import build_config
from gateway.delivery import service_requests
from gateway.delivery.templates import Templates
from gateway.microsoft.clients import partner_center
from gateway.processing import processor
from gateway.store.engine import Store
from gateway.store.models import ServiceRequestRow
from gateway.store.raw_messages import IncomingRaw
from tests.e2e import postgres
from tests.e2e.conftest import config_text
from tests.e2e.microsoft_standin import CLIENT_ID, CLIENT_SECRET, PARTNER_TENANT, MicrosoftStandIn
from tests.e2e.ports import free_port
from tests.gateway.test_partner_center import partner_center_for

pytestmark = pytest.mark.skipif(not postgres.available(), reason="installed by make test")


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[MicrosoftStandIn]:
    server = MicrosoftStandIn(tmp_path / "standin")
    server.start()
    yield server
    server.close()


def test_two_workers_file_one_escalation_once(
    database: str, standin: MicrosoftStandIn, tmp_path: Path
) -> None:
    partner_center_for(standin, tmp_path, timeout=5.0)  # the admin's login: tmp_path/token.json
    data: dict[str, Any] = tomllib.loads(config_text(free_port(), "maildir:outgoing"))
    data["storage"] = {"url": database}
    data["microsoft"] |= {
        "escalation": "partner_center",
        "tenant_id": PARTNER_TENANT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_file": "token.json",
        "authority": standin.url,
        "partner_center_url": standin.partner_center_url,
        "ca_file": str(standin.ca_file),
        "support_topics": {"*": "32569836"},
    }
    data.setdefault("rules", []).append(
        {"name": "up", "when": {"words": ["outage"]}, "then": {"action": "escalate"}}
    )
    config = build_config(data, tmp_path / "config.toml")
    stores = [Store(database), Store(database)]
    stores[0].migrate()
    mail = b"From: anna@fabrikam.example\r\nSubject: Teams outage\r\n\r\nAll down.\r\n"
    stores[0].insert_raw([IncomingRaw(data=mail, via="smtp", mail_from="anna@fabrikam.example")])
    assert processor.process_pending(stores[0], processor.Context(config, Templates())) == 1

    # Slow enough that both workers are in their round at once; quick enough for the client.
    standin.fault("POST", r"/v1/servicerequests/", "timeout", delay=1.5)
    made: list[int] = []

    def worker(store: Store) -> None:
        made.append(
            service_requests.deliver_due(
                store, config, Templates(), partner_center(config.microsoft), lambda *n: None
            )
        )

    threads = [threading.Thread(target=worker, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(made) == [0, 1]
    assert len(standin.service_requests) == 1
    assert len(standin.recorded("POST", r"/v1/servicerequests/")) == 1
    with stores[1].reader() as session:
        (row,) = session.scalars(select(ServiceRequestRow)).all()
        assert row.state == "open" and row.request_id in standin.service_requests
    for store in stores:
        store.close()
