"""The App+User token that Partner Center's service requests need: `gatewayd microsoft login`
signs in once as a Partner Center user with a device code, and the refresh token it gets is kept
in `microsoft.token_file` (0600) and renewed from there. Renewal, caching and the telling of
problems are the app-only tokens' (gateway/auth/microsoft.py).

Tokens are secrets: never logged, never in an exception's text.

Microsoft Learn pages followed:
- device code: entra/identity-platform/v2-oauth2-device-code
- refresh tokens (90 days unused): entra/identity-platform/refresh-tokens
- App+User for Partner Center, scope https://api.partnercenter.microsoft.com/user_impersonation:
  partner-center/developer/partner-center-authentication
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msal
import requests

from gateway.auth.microsoft import (
    CachedToken,
    EntraApp,
    Problems,
    TokenRefused,
    failure_text,
    http_session,
    network_failure_text,
    renewed,
)
from gateway.auth.tokens import TokenError


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
        self._cached = CachedToken()
        self._problems = Problems(key, on_problem)
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:  # a refused refresh token is dead: its access token is not served on
            return renewed(
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
            self._cached = CachedToken()

    @property
    def expires_at(self) -> float | None:
        """When the access token last obtained expires (Unix time); None before the first."""
        return self._cached.expires if self._cached.token else None

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
            raise TokenError(network_failure_text(self.key, exc)) from None
        except ValueError as exc:
            raise TokenError(f"{self.key}: {exc}") from None
        if "access_token" not in result:
            error = TokenRefused if result.get("error") == "invalid_grant" else TokenError
            raise error(failure_text(self.key, result) + "; run gatewayd microsoft login")
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
            raise TokenError(failure_text("microsoft login", flow))
        say(
            str(flow.get("message") or f"Open {flow['verification_uri']}, code {flow['user_code']}")
        )
        if wait_seconds is not None:
            flow["expires_at"] = min(float(flow["expires_at"]), time.time() + wait_seconds)
        result = client.acquire_token_by_device_flow(flow)
    except (requests.RequestException, OSError) as exc:
        raise TokenError(network_failure_text("microsoft login", exc)) from None
    except ValueError as exc:
        raise TokenError(f"microsoft login: {exc}") from None
    if "refresh_token" not in result:
        raise TokenError(failure_text("microsoft login", result))
    claims = result.get("id_token_claims") or {}
    user = str(claims.get("preferred_username") or claims.get("name") or "")
    write_token_file(token_file, str(result["refresh_token"]), user, datetime.now(UTC))
    return user
