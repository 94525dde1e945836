"""Outgoing mail waits in the outbox while the relay is down and drains when it is back."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

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


def test_mail_undelivered_for_give_up_after_is_kept_as_failed_and_admins_are_told(
    tmp_path: Path, sink: Sink
) -> None:
    gateway = Gateway(tmp_path, sink)
    gateway.config.write_text(
        gateway.config.read_text().replace('give_up_after = "3d"', 'give_up_after = "3s"')
    )
    gateway.start()
    try:
        sink.stop()
        gateway.send(mail())

        def failed() -> list[dict[str, object]]:
            rows = gateway.json("outbox", "list", "--all")
            return [r for r in rows if r["state"] == "failed"]

        rows = wait_for(failed, 20, "mail given up on")
        sink.start()
        (notice,) = sink.wait_for_mail("priya@contoso.example", timeout=15)[:1]
        assert "could not be delivered" in notice.message["Subject"]
        assert rows[0]["last_error"]
        assert sink.to("jan@contoso.example") == []  # not an admin-agent
    finally:
        assert gateway.stop() == 0


class XOAuth2Sink(Sink):
    """A smarthost that takes mail only after SASL XOAUTH2 with the one token, as Exchange
    Online does (no basic SMTP AUTH); mail of a session that did not log in gets 530."""

    token = "eyJ0eXAiOiJKV1QiLCJ-test-token"

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        response = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        expected = f"user=support@contoso.example\x01auth=Bearer {self.token}\x01\x01"
        return AuthResult(success=response == expected, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        return await super().handle_DATA(server, session, envelope)

    def start(self) -> None:
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, auth_require_tls=False
        )
        self.controller.start()


def test_the_daemon_sends_through_a_relay_that_takes_only_xoauth2(tmp_path: Path) -> None:
    relay = XOAuth2Sink()
    relay.start()
    gateway = Gateway(tmp_path, relay)
    outbound = (
        'give_up_after = "3d"\nusername = "support@contoso.example"\nauth = "xoauth2"\n'
        f'token_command = "echo {XOAuth2Sink.token}"'
    )
    text = gateway.config.read_text().replace('give_up_after = "3d"', outbound, 1)
    gateway.config.write_text(text)
    gateway.start()
    try:
        gateway.send(mail())
        relay.wait_for_mail("anna@fabrikam.example", timeout=15)
        assert XOAuth2Sink.token not in gateway.log_text()  # a secret, never logged
    finally:
        assert gateway.stop() == 0
        relay.stop()
