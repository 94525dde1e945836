"""Two daemons on one real PostgreSQL database: each takes SMTP, the work is shared without a
message processed twice, a ticket number used twice or an acknowledgement sent twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import Gateway, Sink, mail, two_daemons
from tests.e2e.dovecot import Dovecot
from tests.e2e.postgres import available
from tests.e2e.test_hostile import raw_mail, standard_headers, still_served
from tests.e2e.test_imap import SUPPORT, customer_mail, imap_config

pytestmark = pytest.mark.skipif(not available(), reason="postgresql is installed by make test")


def test_two_daemons_share_one_database(tmp_path: Path, sink: Sink, database: str) -> None:
    daemons = two_daemons(tmp_path, sink, database)
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


def test_one_daemon_reads_a_mailbox_and_another_takes_over_when_it_dies(
    tmp_path: Path, sink: Sink, database: str, dovecot: Dovecot
) -> None:
    daemons = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        daemons.append(Gateway(tmp_path / name, sink, imap_config(dovecot), storage_url=database))
    for daemon in daemons:
        daemon.start()
    dovecot.append(SUPPORT, [customer_mail(n, f"user{n}@fabrikam.example") for n in range(20)])
    daemons[0].wait_for_tickets(20, timeout=30)
    readers = [d for d in daemons if "imap.taken" in d.log_text()]
    assert len(readers) == 1  # the other stood by
    standby = next(d for d in daemons if d is not readers[0])
    assert "imap.standby" in standby.log_text()

    readers[0].kill()
    dovecot.append(SUPPORT, [customer_mail(n, f"user{n}@fabrikam.example") for n in range(20, 25)])
    tickets = standby.wait_for_tickets(25, timeout=30)
    assert len({t["subject"] for t in tickets}) == 25
    assert "imap.taken" in standby.log_text()
    assert standby.stop() == 0


def test_nul_bytes_in_headers_and_message_id_make_a_ticket(
    tmp_path: Path, sink: Sink, database: str
) -> None:
    """PostgreSQL's text columns refuse NUL (SQLite's take it, so test_hostile.py cannot tell)."""
    gateway = Gateway(tmp_path, sink, storage_url=database)
    gateway.start()
    try:
        headers = standard_headers(
            b"Anna <anna@fabrikam.example>", b"Kapot \x00 scherm", b"n\x00ul"
        )
        sent = gateway.send(
            raw_mail(headers, b"Regel \x00 een\r\n"), sender="anna@fabrikam.example"
        )
        assert sent == {}
        ticket = still_served(gateway, "after NUL bytes")  # processed in order: the first is done
        tickets = gateway.tickets()
        assert len(tickets) == 2, gateway.log_text()[-6000:]
        assert {t["subject"] for t in tickets} == {"Kapot scherm", ticket["subject"]}
    finally:
        assert gateway.stop() == 0
