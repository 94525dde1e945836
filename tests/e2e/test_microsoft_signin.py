"""`auth = "microsoft"` end to end: the daemon signs in to the Entra ID stand-in with the app's
certificate and reads a real Dovecot (oauth2 introspection, as Exchange Online checks the token)
and sends through a relay that takes only XOAUTH2; and `gatewayd customers sync` writes the
customers Partner Center lists, leaving a hand-written one alone, which check-config takes."""

from __future__ import annotations

import base64
import shutil
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult

from tests.e2e.conftest import PARTNER, Gateway, mail, wait_for
from tests.e2e.dovecot import DOVECOT, Dovecot
from tests.e2e.microsoft_standin import CLIENT_ID, MicrosoftStandIn, app_certificate
from tests.e2e.test_imap import customer_mail, imap_config
from tests.e2e.test_microsoft import login
from tests.e2e.test_outbox import XOAuth2Sink

pytestmark = pytest.mark.skipif(
    shutil.which("dovecot") is None and not Path(DOVECOT).exists(),
    reason="dovecot is installed by make test",
)

EXCHANGE = "https://outlook.office365.com/.default"
TEST_CLIENT_TOKEN = "token-of-the-tests-own-imap-client"


class ExchangeRelay(XOAuth2Sink):
    """SMTP AUTH XOAUTH2 as Exchange Online takes it: the token must be one that Entra ID gave
    the app for the mailbox."""

    standin: MicrosoftStandIn

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        response = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        user, _, rest = response.partition("\x01")
        token = rest.removeprefix("auth=Bearer ").rstrip("\x01")
        mailbox = self.standin.introspect(token)
        return AuthResult(success=user == f"user={PARTNER}" and mailbox == PARTNER, handled=False)


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MicrosoftStandIn]:
    server = MicrosoftStandIn(tmp_path_factory.mktemp("standin"))
    server.mailboxes.add(PARTNER)  # the app's permission on the support mailbox
    server.mailbox_tokens[TEST_CLIENT_TOKEN] = PARTNER
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def dovecot(standin: MicrosoftStandIn) -> Iterator[Dovecot]:
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="gatewayd-dovecot-"))
    home.chmod(0o755)
    server = Dovecot(home, {PARTNER: TEST_CLIENT_TOKEN}, oauth_url=standin.introspection_url)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def relay(standin: MicrosoftStandIn) -> Iterator[ExchangeRelay]:
    sink = ExchangeRelay()
    sink.standin = standin
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, standin: MicrosoftStandIn) -> Path:
    home = tmp_path_factory.mktemp("gateway")
    standin.add_certificate(app_certificate(home / "gatewayd.pem"))
    return home


def microsoft(standin: MicrosoftStandIn) -> str:
    return f"""\
[microsoft]
escalation_address = "escalations@microsoft.example"
tenant_id = "contoso.onmicrosoft.com"
client_id = "{CLIENT_ID}"
certificate_file = "gatewayd.pem"
authority = "{standin.url}"
partner_center_url = "{standin.partner_center_url}"
graph_url = "{standin.graph_url}"
ca_file = "{standin.ca_file}"
poll = "1h"

[directory]
file = "var/customers.generated.toml"
"""


def gateway_for(home: Path, standin: MicrosoftStandIn, relay: ExchangeRelay, extra: str) -> Gateway:
    gateway = Gateway(home, relay, extra)
    text = gateway.config.read_text()
    old = '[microsoft]\nescalation_address = "escalations@microsoft.example"\n'
    text = text.replace(old, microsoft(standin))
    outbound = f'give_up_after = "3d"\nusername = "{PARTNER}"\nauth = "microsoft"'
    gateway.config.write_text(text.replace('give_up_after = "3d"', outbound, 1))
    return gateway


def test_imap_and_smtp_sign_in_with_the_apps_certificate(
    home: Path, standin: MicrosoftStandIn, dovecot: Dovecot, relay: ExchangeRelay
) -> None:
    dovecot.append(PARTNER, [customer_mail(1)])
    extra = imap_config(dovecot, user=PARTNER, password=None, auth="microsoft", poll="1s")
    gateway = gateway_for(home, standin, relay, extra)
    gateway.start()
    try:
        gateway.wait_for_tickets(1, timeout=20)
        relay.wait_for_mail("anna@fabrikam.example", timeout=20)  # the acknowledgement
        dovecot.append(PARTNER, [customer_mail(2)])
        gateway.wait_for_tickets(2, timeout=20)
        every = [r.form for r in standin.recorded("POST", r"/oauth2/v2.0/token$")]
        assert {g["grant_type"] for g in every} == {"client_credentials"}
        assert all("client_assertion" in g and "client_secret" not in g for g in every)
        grants = [g for g in every if g["scope"] == EXCHANGE]  # the rest: Graph's health
        # Cached: one sign-in for the mailbox (daemon) and one for the relay (worker), not one
        # per connection or message.
        assert len(grants) == 2
        failed_sign_in_is_temporary_and_told(gateway, standin, relay)
        log = gateway.log_text()
        assert "standin-" not in log and "PRIVATE KEY" not in log
    finally:
        assert gateway.stop() == 0
        assert "Traceback" not in gateway.log_text(), gateway.log_text()


def failed_sign_in_is_temporary_and_told(
    gateway: Gateway, standin: MicrosoftStandIn, relay: ExchangeRelay
) -> None:
    """The certificate is gone from the app (and the tokens revoked): the mail waits, the
    failure is logged once, the admin-agents' notice waits with it; back, all of it goes."""
    certificates = list(standin.certificates)
    standin.certificates.clear()
    standin.tokens.clear()
    gateway.send(mail(sender="carla@fabrikam.example", subject="Printer", body="It jams."))

    def notice_waiting() -> list[dict[str, Any]]:
        rows = gateway.json("outbox", "list")
        return [r for r in rows if r["purpose"] == "notice" and "sign in" in r["subject"]]

    wait_for(notice_waiting, 20, "the admins' notice in the outbox")
    time.sleep(2.5)  # more attempts: still one log line for the one problem
    assert gateway.log_text().count("microsoft.token_failed") == 1
    standin.certificates.extend(certificates)
    relay.wait_for_mail("carla@fabrikam.example", timeout=30)
    wait_for(lambda: relay.to("priya@contoso.example"), 30, "the notice delivered")
    assert "microsoft.token_recovered" in gateway.log_text()


def test_customers_sync_adds_a_customer_and_leaves_one_written_by_hand(
    home: Path, standin: MicrosoftStandIn, relay: ExchangeRelay
) -> None:
    standin.add_customer(
        "6a1f0c55-1111-4222-8333-444455556666",
        "Fabrikam B.V. (in Partner Center)",
        "fabrikam.onmicrosoft.com",
        "fabrikam.example",
    )
    standin.add_customer(
        "9c3f2e77-3333-4444-8555-666677778888",
        "Wingtip Toys",
        "wingtiptoys.onmicrosoft.com",
        "wingtip.example",
    )
    gateway = gateway_for(home, standin, relay, "")
    login(gateway, standin)
    generated = home / "var" / "customers.generated.toml"

    dry = gateway.cli("customers", "sync", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "added wingtip-toys: Wingtip Toys" in dry.stdout
    assert "skipped Fabrikam B.V. (in Partner Center)" in dry.stdout
    assert "written by hand in config.toml as fabrikam" in dry.stdout
    assert not generated.exists()

    done = gateway.cli("customers", "sync")
    assert done.returncode == 0, done.stderr
    customers = tomllib.loads(generated.read_text())["customers"]
    assert [c["id"] for c in customers] == ["wingtip-toys"]
    assert customers[0]["domains"] == ["wingtiptoys.onmicrosoft.com", "wingtip.example"]

    check = gateway.cli("check-config")
    assert check.returncode == 0, check.stderr
    assert f"customers (1 from {generated})" in check.stdout
    signed = gateway.cli("microsoft", "check")
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert "outbound (Exchange Online, certificate): signed in" in signed.stdout
    assert (
        "Graph service health, partner tenant (contoso.onmicrosoft.com): 0 issues" in signed.stdout
    )
    assert "Partner Center: signed in as admin@contoso.onmicrosoft.com" in signed.stdout
    route = gateway.cli(
        "route", "--json", "--explain", str(_mail_from(home, "kim@wingtip.example"))
    )
    assert route.returncode == 0, route.stderr
    assert '"customer": "wingtip-toys"' in route.stdout
    anna = str(_mail_from(home, "anna@fabrikam.example"))
    fabrikam = gateway.cli("route", "--json", "--explain", anna)
    assert '"customer": "fabrikam"' in fabrikam.stdout  # the hand-written one, unchanged

    generated.write_text(generated.read_text().replace('billing = "direct"', 'billing = "dirct"'))
    bad = gateway.cli("check-config")
    assert bad.returncode == 2
    assert "directory.file: customers[0].billing" in bad.stderr


def _mail_from(home: Path, sender: str) -> Path:
    path = home / f"{sender}.eml"
    path.write_bytes(customer_mail(3, sender=sender))
    return path
