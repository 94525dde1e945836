"""Entra ID sign-in with MSAL: app-only tokens (client credentials, with a client secret or a
certificate) for Exchange Online's IMAP and SMTP and for Microsoft Graph. The App+User token that
Partner Center's service requests need is gateway/auth/partner_center_sign_in.py's.

Tokens are secrets: never logged, never in an exception's text. A token source has the
`get()` / `invalidate()` of gateway/auth/tokens.py's CommandToken, so IMAP and the relay take
either.
A failed renewal raises TokenError, which both treat as a temporary fault; the problem is logged
once (not at every retry) and handed to `on_problem`, whose caller tells the admin-agents at most
once an hour (gateway/notices.py).

Microsoft Learn pages followed:
- client credentials: entra/identity-platform/v2-oauth2-client-creds-grant-flow
- certificate credentials: entra/identity-platform/certificate-credentials
- XOAUTH2 with Exchange Online, scope https://outlook.office365.com/.default for app-only:
  exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    @property
    def expires_at(self) -> float | None: ...  # Unix time; shown by `gatewayd status`


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


def failure_text(key: str, result: dict[str, Any]) -> str:
    """What Entra ID said, first line only: the rest is trace and correlation ids."""
    description = str(result.get("error_description") or "").strip().splitlines()
    detail = f": {description[0]}" if description else ""
    return f"{key}: Entra ID refused the sign-in: {result.get('error', 'error')}{detail}"


def network_failure_text(key: str, exc: BaseException) -> str:
    # The text of a requests exception names the URL and the reason, never a form field.
    reason = re.sub(r"\s+", " ", str(exc))[:300]
    return f"{key}: Entra ID could not be reached: {type(exc).__name__}: {reason}"


class Problems:
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


class CachedToken:
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


def renewed(
    cached: CachedToken,
    problems: Problems,
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
        self._cached = CachedToken()
        self._problems = Problems(f"{key}:{self.tenant}", on_problem)
        self._client: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            return renewed(self._cached, self._problems, self._acquire, lambda exc: True)

    def invalidate(self) -> None:
        """The server refused the token: the next get() asks Entra ID for a new one."""
        with self._lock:
            self._cached = CachedToken()

    @property
    def expires_at(self) -> float | None:
        """When the token last obtained expires (Unix time); None before the first."""
        return self._cached.expires if self._cached.token else None

    def _acquire(self) -> dict[str, Any]:
        try:
            client = self._msal()
            # MSAL would hand back its own cached token until five minutes before it ends;
            # when to renew is decided above.
            client.remove_tokens_for_client()
            result = client.acquire_token_for_client(scopes=[self.scope])
        except (requests.RequestException, OSError) as exc:
            self._client = None
            raise TokenError(network_failure_text(self.key, exc)) from None
        except ValueError as exc:  # the authority's metadata could not be read
            self._client = None
            raise TokenError(f"{self.key}: {exc}") from None
        if "access_token" not in result:
            raise TokenError(failure_text(self.key, result))
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
