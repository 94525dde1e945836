"""OAuth2 access tokens printed by an admin's command (Exchange Online takes no passwords).

The command is the admin's own (az cli, a script with a refresh token…); gatewayd only runs it
and caches what it prints. The token is a secret: it is never logged.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time

# Entra ID access tokens live 60-90 minutes; re-running the command before that keeps a token
# from expiring in the middle of a long IMAP session.
_LIFETIME_SECONDS = 45 * 60
_COMMAND_TIMEOUT_SECONDS = 60


class TokenError(Exception):
    """The token command failed; the text says how, without the command's output."""


class CommandToken:
    def __init__(self, command: str, key: str) -> None:
        self.command = command
        self.key = key  # the config key, for error messages
        self._token: str | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self.expires_at: float | None = None  # Unix time, when the token says (a JWT's exp)

    def get(self) -> str:
        with self._lock:
            fresh = time.monotonic() - self._fetched_at < _LIFETIME_SECONDS
            if self._token is None or not fresh:
                self._token = self._run()
                self._fetched_at = time.monotonic()
                self.expires_at = jwt_expiry(self._token)
            return self._token

    def invalidate(self) -> None:
        """The server refused the token: the next get() runs the command again."""
        with self._lock:
            self._token = None

    def _run(self) -> str:
        try:
            result = subprocess.run(
                self.command,
                shell=True,  # the admin's command line, pipes and all, as in a shell
                capture_output=True,
                text=True,
                timeout=_COMMAND_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TokenError(f"{self.key}: timed out after {_COMMAND_TIMEOUT_SECONDS}s") from None
        token = result.stdout.strip()
        if result.returncode != 0:
            raise TokenError(f"{self.key}: exited with status {result.returncode}")
        if not token or any(c.isspace() for c in token):
            raise TokenError(f"{self.key}: did not print one token on standard output")
        return token


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a token that is a JWT (RFC 7519 §4.1.4), as Entra ID's access tokens
    are, read without checking the signature (the server checks it; this is only for
    /metrics); None for a token of another form. Nothing of the token is kept or logged."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        expiry = claims.get("exp") if isinstance(claims, dict) else None
    except ValueError:
        return None
    return float(expiry) if isinstance(expiry, int | float) else None
