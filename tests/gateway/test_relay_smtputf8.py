"""gateway/delivery/relay.py: internationalised addresses (RFC 6531) go out with SMTPUTF8, and only
to a relay that offers it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from gateway.delivery.relay import PermanentDeliveryError, SmtpRelay
from tests.e2e.ports import free_port
from tests.gateway.conftest import relay_settings


class Keeper:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        options = [o for o in envelope.mail_options if not o.startswith("SIZE=")]
        self.received.append((envelope.mail_from, envelope.rcpt_tos, options))
        return "250 OK"


@pytest.fixture(params=[True, False], ids=["smtputf8", "ascii-only"])
def relay(request: pytest.FixtureRequest) -> Iterator[tuple[SmtpRelay, Keeper, bool]]:
    keeper, port = Keeper(), free_port()
    controller = Controller(keeper, hostname="127.0.0.1", port=port, enable_SMTPUTF8=request.param)
    controller.start()
    settings = relay_settings(port)
    yield SmtpRelay(settings, timeout=10), keeper, request.param
    controller.stop()


MAIL = "To: josé@fabrikam.example\r\nSubject: x\r\n\r\nhi\r\n".encode()


def test_a_non_ascii_recipient_goes_with_smtputf8_where_offered(
    relay: tuple[SmtpRelay, Keeper, bool],
) -> None:
    smtp, keeper, offered = relay
    if not offered:
        with pytest.raises(PermanentDeliveryError, match="SMTPUTF8"):
            smtp.deliver("support@contoso.example", ["josé@fabrikam.example"], MAIL)
        return

    smtp.deliver("support@contoso.example", ["josé@fabrikam.example"], MAIL)

    assert keeper.received == [("support@contoso.example", ["josé@fabrikam.example"], ["SMTPUTF8"])]


def test_ascii_mail_goes_without_smtputf8(relay: tuple[SmtpRelay, Keeper, bool]) -> None:
    smtp, keeper, _ = relay

    smtp.deliver("support@contoso.example", ["anna@fabrikam.example"], b"Subject: x\r\n\r\nhi\r\n")

    assert keeper.received == [("support@contoso.example", ["anna@fabrikam.example"], [])]
