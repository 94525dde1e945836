"""Two daemons on one real PostgreSQL database: each takes SMTP, the work is shared without a
message processed twice, a ticket number used twice or an acknowledgement sent twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Gateway, Sink, mail
from tests.e2e.postgres import Postgres, available

pytestmark = pytest.mark.skipif(not available(), reason="postgresql is installed by make test")


@pytest.fixture
def database() -> Iterator[str]:
    cluster = Postgres()
    cluster.start()
    yield cluster.create_database("gatewayd")
    cluster.remove()


def test_two_daemons_share_one_database(tmp_path: Path, sink: Sink, database: str) -> None:
    daemons = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        daemons.append(Gateway(tmp_path / name, sink, storage_url=database))
    for daemon in daemons:
        daemon.start()
    try:
        count = 60
        for n in range(count):
            daemons[n % 2].send(mail(sender=f"user{n}@fabrikam.example", subject=f"Request {n}"))
        tickets = daemons[0].wait_for_tickets(count, timeout=60)
        assert sorted(t["subject"] for t in tickets) == sorted(f"Request {n}" for n in range(count))
        assert len({t["number"] for t in tickets}) == count
        for n in range(count):
            sink.wait_for_mail(f"user{n}@fabrikam.example", timeout=30)
        acks = Counter(r.rcpt_tos[0] for r in sink.received if r.rcpt_tos[0].startswith("user"))
        assert set(acks.values()) == {1}  # every acknowledgement exactly once
        processed = sum(d.log_text().count("message.processed") for d in daemons)
        assert processed == count
    finally:
        for daemon in daemons:
            assert daemon.stop() == 0
