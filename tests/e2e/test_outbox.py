"""Outgoing mail waits in the outbox while the relay is down and drains when it is back."""

from __future__ import annotations

from tests.e2e.conftest import Gateway, Sink, mail, wait_for


def test_relay_down_then_up_delivers_everything_once(gateway: Gateway, sink: Sink) -> None:
    sink.stop()
    gateway.send(mail())
    gateway.wait_for_tickets(1)

    def waiting_with_errors() -> list[dict[str, object]] | None:
        rows = gateway.json("outbox", "list")
        tried = len(rows) == 3 and all(r["attempts"] >= 1 and r["last_error"] for r in rows)
        return rows if tried else None

    rows = wait_for(waiting_with_errors, 15, "failed attempts in the outbox")
    assert {r["state"] for r in rows} == {"pending"}
    assert {r["purpose"] for r in rows} == {"acknowledgement", "notification"}
    listing = gateway.cli("outbox", "list")
    assert "last error" in listing.stdout and "acknowledgement" in listing.stdout

    sink.start()  # same port: the smarthost is back
    sink.wait_for_mail("anna@fabrikam.example", timeout=15)
    sink.wait_for_mail("jan@contoso.example", timeout=15)
    sink.wait_for_mail("priya@contoso.example", timeout=15)
    wait_for(lambda: gateway.json("outbox", "list") == [], 10, "an empty outbox")
    ids = [r.message["Message-ID"] for r in sink.received]
    assert len(ids) == len(set(ids)) == 3
    sent = gateway.json("outbox", "list", "--all")
    assert sorted(r["message_id"] for r in sent) == sorted(ids)  # same Message-ID on the retry
