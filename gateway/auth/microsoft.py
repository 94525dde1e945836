"""Entra ID sign-in with MSAL: app-only tokens (client credentials, with a client secret or a
certificate) for Exchange Online's IMAP and SMTP and for Microsoft Graph, and the App+User token
that Partner Center's service requests need, from a refresh token that `gatewayd microsoft
login` got once with a device code.

Tokens are secrets: never logged, never in an exception's text. A token source has the
`get()` / `invalidate()` of gateway/auth/tokens.py's CommandToken, so IMAP and the relay take
either.
A failed renewal raises TokenError, which both treat as a temporary fault; the problem is logged
once (not at every retry) and handed to `on_problem`, whose caller tells the admin-agents at most
once an hour (gateway/notices.py).

Microsoft Learn pages followed:
- client credentials: entra/identity-platform/v2-oauth2-client-creds-grant-flow
- certificate credentials: entra/identity-platform/certificate-credentials
- device code: entra/identity-platform/v2-oauth2-device-code
- refresh tokens (90 days unused): entra/identity-platform/refresh-tokens
- XOAUTH2 with Exchange Online, scope https://outlook.office365.com/.default for app-only:
  exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
- App+User for Partner Center, scope https://api.partnercenter.microsoft.com/user_impersonation:
  partner-center/developer/partner-center-authentication
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import msal
import requests

from gateway.auth.tokens import TokenError
from gateway.logs import log_event

log = logging.getLogger("gateway.auth.microsoft")

# Renew when three quarters of a token's life have passed: a token that Entra ID gives for 60-90
# minutes is replaced 15-20 minutes before it ends, so a renewal that fails is retried while
# the old token still works.
RENEW_AFTER = 0.75
# Below this, a token is not used at all: an IMAP login or an API call takes time.
USABLE_FOR_SECONDS = 30

EXCHANGE_SCOPE = "https://outlook.office365.com/.default"


class TokenSource(Protocol):
    def get(self) -> str: ...
    def invalidate(self) -> None: ...


class TokenRefused(TokenError):
    """Entra ID refused the refresh token (expired unused, revoked, password changed): only a
    new `gatewayd microsoft login` helps."""


@dataclass(frozen=True)
class EntraApp:
    """The partner's app registration, from [microsoft]."""

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    certificate_file: Path | None
    certificate_password: str = field(repr=False)
    authority: str  # https://login.microsoftonline.com, or a sovereign cloud's
    ca_file: Path | None
    timeout: float  # seconds, for every HTTP request

    def authority_for(self, tenant: str | None = None) -> str:
        return f"{self.authority.rstrip('/')}/{tenant or self.tenant_id}"


class _Session(requests.Session):
    """A requests session with a timeout on every request (MSAL sets none of its own)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


def http_session(ca_file: Path | None, timeout: float) -> requests.Session:
    """The HTTP client of every Microsoft call. With a CA file of its own, the environment must
    not override it: requests lets REQUESTS_CA_BUNDLE win over a session's `verify`, so the
    session does not read the environment at all (no proxy variables either: an endpoint
    behind a private CA is a private one)."""
    session = _Session(timeout)
    if ca_file is not None:
        session.trust_env = False
        session.verify = str(ca_file)
    return session


def scope_of(base_url: str, suffix: str) -> str:
    """A resource's scope from its base URL: https://graph.microsoft.com → .../.default."""
    return f"{base_url.rstrip('/')}/{suffix}"


def _failure(key: str, result: dict[str, Any]) -> str:
    """What Entra ID said, first line only: the rest is trace and correlation ids."""
    description = str(result.get("error_description") or "").strip().splitlines()
    detail = f": {description[0]}" if description else ""
    return f"{key}: Entra ID refused the sign-in: {result.get('error', 'error')}{detail}"


def _network_failure(key: str, exc: BaseException) -> str:
    # The text of a requests exception names the URL and the reason, never a form field.
    reason = re.sub(r"\s+", " ", str(exc))[:300]
    return f"{key}: Entra ID could not be reached: {type(exc).__name__}: {reason}"


class _Problems:
    """Logs each distinct problem once, and its end once; tells `on_problem` every time (the
    caller limits notices to one an hour)."""

    def __init__(self, key: str, on_problem: Callable[[str, str], None] | None) -> None:
        self.key = key
        self.on_problem = on_problem
        self.current: str | None = None

    def failed(self, text: str) -> None:
        if text != self.current:
            log_event(log, "microsoft.token_failed", level=logging.WARNING, error=text)
            self.current = text
        if self.on_problem is not None:
            self.on_problem(f"microsoft-token:{self.key}", text)

    def succeeded(self) -> None:
        if self.current is not None:
            log_event(log, "microsoft.token_recovered", key=self.key)
            self.current = None


class _Cached:
    def __init__(self) -> None:
        self.token: str | None = None
        self.obtained = 0.0
        self.expires = 0.0

    def fresh(self, now: float) -> bool:
        renew_at = self.obtained + (self.expires - self.obtained) * RENEW_AFTER
        return self.token is not None and now < renew_at

    def usable(self, now: float) -> bool:
        return self.token is not None and now < self.expires - USABLE_FOR_SECONDS

    def keep(self, result: dict[str, Any], now: float) -> str:
        self.token = str(result["access_token"])
        self.obtained = now
        self.expires = now + float(result.get("expires_in") or 3600)
        return self.token


def _renewed(
    cached: _Cached,
    problems: _Problems,
    fetch: Callable[[], dict[str, Any]],
    serves_old_after: Callable[[TokenError], bool],
) -> str:
    """The cached token while fresh, else a new one from `fetch`. A renewal that fails while the
    old token still works serves the old one, if `serves_old_after` the failure."""
    now = time.time()
    if cached.fresh(now):
        return str(cached.token)
    try:
        token = cached.keep(fetch(), now)
    except TokenError as exc:
        problems.failed(str(exc))
        if cached.usable(now) and serves_old_after(exc):
            return str(cached.token)
        raise
    problems.succeeded()
    return token


class AppToken:
    """An app-only token for one scope in one tenant (the partner's, or a customer's that
    consented to the partner's app through GDAP)."""

    def __init__(
        self,
        app: EntraApp,
        scope: str,
        tenant: str | None = None,
        key: str = "microsoft",
        on_problem: Callable[[str, str], None] | None = None,
    ) -> None:
        self.app = app
        self.scope = scope
        self.tenant = tenant or app.tenant_id
        self.key = key  # names the config key in messages: imap[shared].auth, outbound.auth
        self._cached = _Cached()
        self._problems = _Problems(f"{key}:{self.tenant}", on_problem)
        self._client: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            return _renewed(self._cached, self._problems, self._acquire, lambda exc: True)

    def invalidate(self) -> None:
        """The server refused the token: the next get() asks Entra ID for a new one."""
        with self._lock:
            self._cached = _Cached()

    def _acquire(self) -> dict[str, Any]:
        try:
            client = self._msal()
            # MSAL would hand back its own cached token until five minutes before it ends;
            # when to renew is decided above.
            client.remove_tokens_for_client()
            result = client.acquire_token_for_client(scopes=[self.scope])
        except (requests.RequestException, OSError) as exc:
            self._client = None
            raise TokenError(_network_failure(self.key, exc)) from None
        except ValueError as exc:  # the authority's metadata could not be read
            self._client = None
            raise TokenError(f"{self.key}: {exc}") from None
        if "access_token" not in result:
            raise TokenError(_failure(self.key, result))
        return dict(result)

    def _msal(self) -> msal.ConfidentialClientApplication:
        if self._client is None:
            self._client = msal.ConfidentialClientApplication(
                self.app.client_id,
                client_credential=client_credential(self.app),
                authority=self.app.authority_for(self.tenant),
                http_client=http_session(self.app.ca_file, self.app.timeout),
                # Instance discovery asks login.microsoftonline.com about any other host: a
                # sovereign cloud is known to MSAL, and the configured authority is trusted.
                instance_discovery=False,
            )
        return self._client


def client_credential(app: EntraApp) -> str | dict[str, Any]:
    """MSAL's client_credential: the secret, or the certificate (a PEM file holding the key
    and the certificate, or a PKCS#12 .pfx), signed with PS256 and a SHA-256 thumbprint."""
    if app.certificate_file is None:
        return app.client_secret
    if app.certificate_file.suffix.lower() in {".pfx", ".p12"}:
        credential: dict[str, Any] = {"private_key_pfx_path": str(app.certificate_file)}
    else:
        try:
            text = app.certificate_file.read_text()
        except OSError as exc:
            raise TokenError(f"microsoft.certificate_file: {exc.strerror}") from None
        key = re.search(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", text, re.S
        )
        cert = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
        if key is None or cert is None:
            raise TokenError(
                "microsoft.certificate_file: must hold the private key and the certificate (PEM)"
            )
        credential = {"private_key": key.group(0), "public_certificate": cert.group(0)}
    if app.certificate_password:
        credential["passphrase"] = app.certificate_password
    return credential


# --- App+User: Partner Center -------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    """What the token file holds besides the refresh token."""

    user: str
    signed_in_at: datetime
    refreshed_at: datetime  # when Entra ID last gave a new refresh token


def read_sign_in(token_file: Path) -> SignIn | None:
    data = _read_token_file(token_file)
    if data is None:
        return None
    return SignIn(
        user=str(data.get("user") or ""),
        signed_in_at=_time(data.get("signed_in_at")),
        refreshed_at=_time(data.get("refreshed_at")),
    )


def _time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def _read_token_file(token_file: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(token_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise TokenError(f"microsoft.token_file: cannot be read: {exc}") from None
    return data if isinstance(data, dict) else None


def write_token_file(
    token_file: Path, refresh_token: str, user: str, signed_in_at: datetime
) -> None:
    """Atomically, readable by the daemon's user only (0600) from its first byte."""
    token_file.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    data = {
        "refresh_token": refresh_token,
        "user": user,
        "signed_in_at": signed_in_at.isoformat(timespec="seconds"),
        "refreshed_at": now.isoformat(timespec="seconds"),
    }
    temporary = token_file.with_name(f".{token_file.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # an old file of that name kept its mode
        with os.fdopen(descriptor, "w") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, token_file)


class UserToken:
    """The App+User access token for Partner Center, renewed from the kept refresh token. Each
    renewal brings a new refresh token, which replaces the old one in the file: a daemon that
    renews at least daily keeps it from expiring unused."""

    def __init__(
        self,
        app: EntraApp,
        scope: str,
        token_file: Path,
        key: str = "microsoft.token_file",
        on_problem: Callable[[str, str], None] | None = None,
    ) -> None:
        self.app = app
        self.scope = scope
        self.token_file = token_file
        self.key = key
        self._cached = _Cached()
        self._problems = _Problems(key, on_problem)
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:  # a refused refresh token is dead: its access token is not served on
            return _renewed(
                self._cached,
                self._problems,
                self._redeem,
                lambda exc: not isinstance(exc, TokenRefused),
            )

    def renew(self) -> None:
        """Redeem the refresh token now (the daily keep-alive): a refresh token lives 90 days
        from its last use, however long the access tokens were not needed."""
        self.invalidate()
        self.get()

    def invalidate(self) -> None:
        with self._lock:
            self._cached = _Cached()

    def _redeem(self) -> dict[str, Any]:
        data = _read_token_file(self.token_file)
        if not data or not data.get("refresh_token"):
            raise TokenRefused(
                f"{self.key}: no sign-in kept in {self.token_file}; run gatewayd microsoft login"
            )
        try:
            result = public_client(self.app).acquire_token_by_refresh_token(
                str(data["refresh_token"]), scopes=[self.scope]
            )
        except (requests.RequestException, OSError) as exc:
            raise TokenError(_network_failure(self.key, exc)) from None
        except ValueError as exc:
            raise TokenError(f"{self.key}: {exc}") from None
        if "access_token" not in result:
            error = TokenRefused if result.get("error") == "invalid_grant" else TokenError
            raise error(_failure(self.key, result) + "; run gatewayd microsoft login")
        if result.get("refresh_token"):
            signed_in = _time(data.get("signed_in_at"))
            write_token_file(
                self.token_file,
                str(result["refresh_token"]),
                str(data.get("user") or ""),
                signed_in,
            )
        return dict(result)


def public_client(app: EntraApp) -> msal.PublicClientApplication:
    """The device code flow is a public client's (the app registration allows public client
    flows); its refresh tokens are redeemed without the client secret (AADSTS700025 otherwise)."""
    return msal.PublicClientApplication(
        app.client_id,
        authority=app.authority_for(),
        http_client=http_session(app.ca_file, app.timeout),
        instance_discovery=False,
    )


def device_login(
    app: EntraApp,
    scope: str,
    token_file: Path,
    say: Callable[[str], None],
    wait_seconds: float | None = None,
) -> str:
    """Sign in once as a Partner Center user with a device code; keeps the refresh token in
    `token_file`. Returns the user's name. Raises TokenError when it does not work out."""
    client = public_client(app)
    try:
        flow = client.initiate_device_flow(scopes=[scope])
        if "user_code" not in flow:
            raise TokenError(_failure("microsoft login", flow))
        say(
            str(flow.get("message") or f"Open {flow['verification_uri']}, code {flow['user_code']}")
        )
        if wait_seconds is not None:
            flow["expires_at"] = min(float(flow["expires_at"]), time.time() + wait_seconds)
        result = client.acquire_token_by_device_flow(flow)
    except (requests.RequestException, OSError) as exc:
        raise TokenError(_network_failure("microsoft login", exc)) from None
    except ValueError as exc:
        raise TokenError(f"microsoft login: {exc}") from None
    if "refresh_token" not in result:
        raise TokenError(_failure("microsoft login", result))
    claims = result.get("id_token_claims") or {}
    user = str(claims.get("preferred_username") or claims.get("name") or "")
    write_token_file(token_file, str(result["refresh_token"]), user, datetime.now(UTC))
    return user
