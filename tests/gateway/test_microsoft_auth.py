"""Entra ID sign-in with MSAL against the HTTPS stand-in (tests/e2e/microsoft_standin.py):
client secret and certificate, caching and early renewal, failures as temporary faults logged
once, the device code login and its refresh token file."""

from __future__ import annotations

import logging
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.auth.microsoft import AppToken, EntraApp, TokenRefused, http_session
from gateway.auth.partner_center_sign_in import UserToken, device_login, read_sign_in
from gateway.auth.tokens import TokenError
from tests.e2e.microsoft_standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    PARTNER_DOMAIN,
    PARTNER_TENANT,
    MicrosoftStandIn,
    app_certificate,
)

EXCHANGE = "https://outlook.office365.com/.default"


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[MicrosoftStandIn]:
    server = MicrosoftStandIn(tmp_path / "standin")
    server.start()
    yield server
    server.close()


def app(standin: MicrosoftStandIn, **changes: object) -> EntraApp:
    settings: dict[str, object] = {
        "tenant_id": PARTNER_DOMAIN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "certificate_file": None,
        "certificate_password": "",
        "authority": standin.url,
        "ca_file": standin.ca_file,
        "timeout": 5.0,
    }
    settings.update(changes)
    return EntraApp(**settings)  # type: ignore[arg-type]


def token_requests(standin: MicrosoftStandIn) -> list[dict[str, str]]:
    return [r.form for r in standin.recorded("POST", r"/oauth2/v2.0/token$")]


def test_client_secret_gives_an_app_only_token_once_and_then_from_the_cache(
    standin: MicrosoftStandIn,
) -> None:
    token = AppToken(app(standin), EXCHANGE)
    assert token.expires_at is None
    first = token.get()
    assert token.get() == first
    assert token.expires_at is not None and token.expires_at > time.time() + 600
    (sent,) = token_requests(standin)
    # v2-oauth2-client-creds-grant-flow: the form of a client credentials request.
    assert sent["grant_type"] == "client_credentials"
    assert sent["client_id"] == CLIENT_ID and sent["client_secret"] == CLIENT_SECRET
    assert sent["scope"] == EXCHANGE
    # The tenant named by its domain is discovered at the OpenID metadata, then used by id.
    (metadata,) = standin.recorded("GET", r"openid-configuration$")
    assert metadata.path == f"/{PARTNER_DOMAIN}/v2.0/.well-known/openid-configuration"
    assert standin.recorded("POST", r"/oauth2/v2.0/token$")[0].path == (
        f"/{PARTNER_TENANT}/oauth2/v2.0/token"
    )
    assert standin.introspect(first) is None  # no mailbox granted to the app yet


def test_a_certificate_signs_a_client_assertion(standin: MicrosoftStandIn, tmp_path: Path) -> None:
    pem = tmp_path / "gatewayd.pem"
    standin.add_certificate(app_certificate(pem))
    token = AppToken(app(standin, client_secret="", certificate_file=pem), EXCHANGE)
    assert token.get().startswith("standin-")
    (sent,) = token_requests(standin)
    assert "client_secret" not in sent
    assert sent["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )


def test_a_certificate_not_on_the_app_is_refused_without_printing_secrets(
    standin: MicrosoftStandIn, tmp_path: Path
) -> None:
    pem = tmp_path / "other.pem"
    app_certificate(pem)  # never registered
    token = AppToken(app(standin, certificate_file=pem), EXCHANGE, key="outbound.auth")
    with pytest.raises(TokenError, match=r"outbound.auth: .*invalid_client: AADSTS700027"):
        token.get()


def test_renewed_once_three_quarters_of_its_life_have_passed(standin: MicrosoftStandIn) -> None:
    standin.token_lifetime = 2
    token = AppToken(app(standin), EXCHANGE)
    first = token.get()
    assert token.get() == first
    time.sleep(1.6)
    assert token.get() != first
    assert len(token_requests(standin)) == 2


def test_a_failed_renewal_is_temporary_and_logged_once(
    standin: MicrosoftStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    problems: list[tuple[str, str]] = []
    token = AppToken(
        app(standin), EXCHANGE, key="imap[shared].auth", on_problem=lambda *p: problems.append(p)
    )
    standin.client_secret = "rotated-in-the-portal"
    caplog.set_level(logging.INFO, "gateway.auth.microsoft")
    for _ in range(3):
        with pytest.raises(TokenError, match="AADSTS7000215"):
            token.get()
    failed = [r for r in caplog.records if "microsoft.token_failed" in r.getMessage()]
    assert len(failed) == 1  # once per problem, not per attempt
    assert (
        len(problems) == 3
        and problems[0][0] == f"microsoft-token:imap[shared].auth:{PARTNER_DOMAIN}"
    )
    assert CLIENT_SECRET not in caplog.text and "rotated-in-the-portal" not in caplog.text
    standin.client_secret = "rotated-in-the-portal"
    token.app = app(standin, client_secret="rotated-in-the-portal")
    token._client = None  # the admin fixed the secret (a reload builds a new token source)
    assert token.get()
    assert any("microsoft.token_recovered" in r.getMessage() for r in caplog.records)


def test_the_old_token_serves_while_its_renewal_fails(standin: MicrosoftStandIn) -> None:
    standin.token_lifetime = 120
    token = AppToken(app(standin), EXCHANGE)
    first = token.get()
    token._cached.obtained -= 100  # past three quarters of its life, still 20 s left
    standin.stop()
    assert token.get() == first  # Entra ID down: the token still works, nothing waits
    token._cached.obtained -= 1000
    token._cached.expires -= 1000
    with pytest.raises(TokenError, match="could not be reached"):
        token.get()


def test_a_customer_tenant_without_consent_is_refused(standin: MicrosoftStandIn) -> None:
    standin.add_tenant(
        "1d1c0f9a-0000-4000-8000-000000000001", "fabrikam.onmicrosoft.com", consented=False
    )
    token = AppToken(
        app(standin), "https://graph.example/.default", tenant="fabrikam.onmicrosoft.com"
    )
    with pytest.raises(TokenError, match="AADSTS700016"):
        token.get()


def test_the_ca_file_wins_over_requests_ca_bundle(
    standin: MicrosoftStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test machines set REQUESTS_CA_BUNDLE to the system bundle, which does not know the
    # stand-in's CA: a session that read the environment would fail TLS.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    session = http_session(standin.ca_file, 5.0)
    assert session.get(f"{standin.url}/{PARTNER_TENANT}/v2.0/.well-known/openid-configuration").ok


def login(standin: MicrosoftStandIn, token_file: Path) -> str:
    said: list[str] = []
    approver = threading.Thread(target=lambda: approve_when_asked(standin, said))
    approver.start()
    user = device_login(app(standin), SCOPE(standin), token_file, said.append, wait_seconds=20)
    approver.join()
    assert "enter the code" in said[0]
    return user


def SCOPE(standin: MicrosoftStandIn) -> str:
    return f"{standin.partner_center_url}/user_impersonation"


def approve_when_asked(standin: MicrosoftStandIn, said: list[str]) -> None:
    deadline = time.monotonic() + 10
    while not said and time.monotonic() < deadline:
        time.sleep(0.05)
    standin.approve_device_code("admin@contoso.onmicrosoft.com")


def test_device_login_keeps_the_refresh_token_for_the_daemon_user_only(
    standin: MicrosoftStandIn, tmp_path: Path
) -> None:
    token_file = tmp_path / "var" / "microsoft-token.json"
    assert login(standin, token_file) == "admin@contoso.onmicrosoft.com"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    sign_in = read_sign_in(token_file)
    assert sign_in is not None and sign_in.user == "admin@contoso.onmicrosoft.com"
    (asked,) = standin.recorded("POST", r"/devicecode$")
    assert SCOPE(standin) in asked.form["scope"].split()
    assert "offline_access" in asked.form["scope"].split()  # for the refresh token

    kept = token_file.read_text()
    token = UserToken(app(standin), SCOPE(standin), token_file)
    assert token.get().startswith("standin-")
    refresh = token_requests(standin)[-1]
    assert refresh["grant_type"] == "refresh_token" and "client_secret" not in refresh
    assert token_file.read_text() != kept  # the new refresh token replaced the old one
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_a_refused_refresh_token_says_to_log_in_again(
    standin: MicrosoftStandIn, tmp_path: Path
) -> None:
    token_file = tmp_path / "token.json"
    login(standin, token_file)
    standin.revoke_refresh_tokens()
    token = UserToken(app(standin), SCOPE(standin), token_file)
    with pytest.raises(TokenRefused, match="invalid_grant.*gatewayd microsoft login"):
        token.get()


def test_no_login_yet_is_refused(standin: MicrosoftStandIn, tmp_path: Path) -> None:
    token = UserToken(app(standin), SCOPE(standin), tmp_path / "missing.json")
    with pytest.raises(TokenRefused, match="run gatewayd microsoft login"):
        token.get()
