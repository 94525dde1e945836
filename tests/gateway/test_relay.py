"""gateway/delivery/relay.py against a real aiosmtpd smarthost: XOAUTH2 with the admin's token
command (`outbound.auth = "xoauth2"` used to log in with AUTH PLAIN and an empty password), and a
refused login that keeps the mail waiting."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from gateway.config import Outbound
from gateway.delivery.relay import SmtpRelay, TemporaryDeliveryError
from tests.e2e.ports import free_port
from tests.gateway.conftest import relay_settings

GOOD_TOKEN = "ya29.good-token"
MAIL = b"From: support@contoso.example\r\nTo: anna@fabrikam.example\r\nSubject: Hi\r\n\r\nHi\r\n"


class XOAuth2Smarthost:
    """Takes mail only after AUTH XOAUTH2 with GOOD_TOKEN, as Exchange Online does."""

    def __init__(self) -> None:
        self.logins: list[str] = []
        self.received: list[bytes] = []

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        response = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        self.logins.append(response)
        if response == f"user=support@contoso.example\x01auth=Bearer {GOOD_TOKEN}\x01\x01":
            return AuthResult(success=True)
        # RFC 7628 §3.2.2: an error challenge, answered by the client with an empty line.
        await server.push("334 " + base64.b64encode(b'{"status":"401"}').decode())
        await server._reader.readline()
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        self.received.append(envelope.original_content)
        return "250 OK"


@pytest.fixture
def smarthost() -> Iterator[tuple[XOAuth2Smarthost, int]]:
    handler, port = XOAuth2Smarthost(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, auth_require_tls=False)
    controller.start()
    yield handler, port
    controller.stop()


def settings(port: int, token_command: str) -> Outbound:
    return relay_settings(
        port, username="support@contoso.example", auth="xoauth2", token_command=token_command
    )


def test_xoauth2_logs_in_with_the_token_the_command_prints(
    smarthost: tuple[XOAuth2Smarthost, int],
) -> None:
    handler, port = smarthost
    relay = SmtpRelay(settings(port, f"echo {GOOD_TOKEN}"))

    relay.deliver("support@contoso.example", ["anna@fabrikam.example"], MAIL)
    relay.deliver("support@contoso.example", ["anna@fabrikam.example"], MAIL)

    assert len(handler.received) == 2
    assert all(GOOD_TOKEN in login for login in handler.logins)


def test_a_refused_token_is_fetched_once_more(
    smarthost: tuple[XOAuth2Smarthost, int], tmp_path: Path
) -> None:
    """The first token the command prints is stale; the relay asks for a fresh one."""
    handler, port = smarthost
    runs = tmp_path / "runs"
    command = f"echo x >> {runs}; [ $(wc -l < {runs}) -ge 2 ] && echo {GOOD_TOKEN} || echo stale"

    SmtpRelay(settings(port, command)).deliver(
        "support@contoso.example", ["anna@fabrikam.example"], MAIL
    )

    assert len(handler.received) == 1
    assert len(runs.read_text().splitlines()) == 2


@pytest.mark.parametrize("command", ["echo wrong-token", "exit 3"])
def test_a_login_that_fails_keeps_the_mail_waiting(
    smarthost: tuple[XOAuth2Smarthost, int], command: str
) -> None:
    handler, port = smarthost
    with pytest.raises(TemporaryDeliveryError) as failed:
        SmtpRelay(settings(port, command)).deliver(
            "support@contoso.example", ["anna@fabrikam.example"], MAIL
        )
    assert handler.received == []
    assert "wrong-token" not in str(failed.value)  # the token is a secret


@pytest.fixture
def tls_smarthost(tmp_path: Path) -> Iterator[tuple[XOAuth2Smarthost, int, Path]]:
    """An implicit-TLS (port 465 style) smarthost with a certificate of its own."""
    import ssl
    import subprocess

    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")]
        + ["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    handler, port = XOAuth2Smarthost(), free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, ssl_context=context, auth_require_tls=False
    )
    controller.start()
    yield handler, port, tmp_path / "cert.pem"
    controller.stop()


def test_implicit_tls_with_a_private_ca(
    tls_smarthost: tuple[XOAuth2Smarthost, int, Path],
) -> None:
    handler, port, cert = tls_smarthost
    secure = dataclasses.replace(settings(port, f"echo {GOOD_TOKEN}"), tls=True, ca_file=cert)

    SmtpRelay(secure).deliver("support@contoso.example", ["anna@fabrikam.example"], MAIL)

    assert len(handler.received) == 1
    with pytest.raises(TemporaryDeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        unknown_ca = dataclasses.replace(secure, ca_file=None)
        SmtpRelay(unknown_ca).deliver("support@contoso.example", ["anna@fabrikam.example"], MAIL)
