"""Postfix in front of gatewayd, for real (issue 19): Debian's Postfix with the snippets of
deploy/postfix/ hands the support address to gatewayd's SMTP port and relays gatewayd's own
mail. While gatewayd is stopped Postfix keeps the mail deferred; once it is back and the queue
is flushed, every message is a ticket exactly once, and every acknowledgement went out through
the same Postfix.
"""

from __future__ import annotations

import shutil
import smtplib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.e2e import postfix
from tests.e2e.conftest import PARTNER, Gateway, Sink, mail, wait_for
from tests.e2e.ports import free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not postfix.available(), reason="postfix (as root) is installed by make test"
    ),
]


@pytest.fixture
def mta(tmp_path: Path, sink: Sink) -> Iterator[tuple[postfix.Postfix, Gateway]]:
    port = free_port()
    (tmp_path / "gateway").mkdir()
    gateway = Gateway(tmp_path / "gateway", SimpleNamespace(port=port))  # type: ignore[arg-type]
    # Postfix's servers run as the postfix user: pytest's tmp_path (0700) is closed to them.
    home = Path(tempfile.mkdtemp(prefix="gatewayd-postfix-"))
    server = postfix.Postfix(home, PARTNER, gateway.port, sink.port, port=port)
    try:
        server.start()
        yield server, gateway
    finally:
        gateway.stop()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def send_through(server: postfix.Postfix, customers: range) -> None:
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
        for n in customers:
            message = mail(sender=f"user{n}@fabrikam.example", subject=f"Request {n}")
            smtp.send_message(message, to_addrs=[PARTNER])


def test_mail_waits_in_postfix_while_gatewayd_is_down_and_arrives_once(
    mta: tuple[postfix.Postfix, Gateway], sink: Sink
) -> None:
    server, gateway = mta
    gateway.start()
    send_through(server, range(3))
    gateway.wait_for_tickets(3, timeout=30)
    assert gateway.stop() == 0

    send_through(server, range(3, 8))
    wait_for(lambda: server.log_text().count("status=deferred") >= 5, 30,
             "Postfix to defer the mail for the stopped gateway")  # fmt: skip
    assert server.queued() >= 5

    gateway.start()
    server.flush()
    tickets = gateway.wait_for_tickets(8, timeout=60)
    assert sorted(t["subject"] for t in tickets) == sorted(f"Request {n}" for n in range(8))
    wait_for(lambda: server.queued() == 0, 30, "the Postfix queue empty")

    # The acknowledgements went out through Postfix (its Received: line), one per customer.
    for n in range(8):
        (ack,) = sink.wait_for_mail(f"user{n}@fabrikam.example", timeout=30)
        assert b"by mx.contoso.example (Postfix)" in ack.data
    assert len(gateway.tickets()) == 8
