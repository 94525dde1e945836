"""One authorised call to a Microsoft REST API, and what its failure means: temporary (try
again later: the network, a timeout, 408, 429, 5xx, a token that could not be had) or permanent
(the request itself is wrong: any other 4xx).

A timeout is its own kind: the request may have reached Microsoft and been carried out, so a
retry of a create first looks whether it exists (gateway/microsoft/partner_center.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests

from gateway.auth.microsoft import TokenRefused, TokenSource
from gateway.auth.tokens import TokenError


class ApiError(Exception):
    """A Microsoft API call that did not work; the text names the call, never a token."""

    temporary = True


class TemporaryApiError(ApiError):
    pass


class ApiTimeout(TemporaryApiError):
    """No answer in time: the request may or may not have been carried out."""


class PermanentApiError(ApiError):
    temporary = False


class SignInRefused(TemporaryApiError):
    """The kept sign-in was refused: nothing is lost, but only an admin's login helps."""


def call(
    session: requests.Session,
    token: TokenSource,
    method: str,
    url: str,
    what: str,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """The decoded JSON answer (None when empty). A 401 gets one fresh token and one more try:
    a token may be revoked before it ends."""
    for attempt in (1, 2):
        try:
            bearer = token.get()
        except TokenRefused as exc:
            raise SignInRefused(str(exc)) from None
        except TokenError as exc:
            raise TemporaryApiError(str(exc)) from None
        sent = {
            "Authorization": f"Bearer {bearer}",
            "Accept": "application/json",
            **(headers or {}),
        }
        try:
            response = session.request(method, url, json=json, headers=sent)
        except requests.Timeout:
            raise ApiTimeout(f"{what}: no answer in time") from None
        except requests.RequestException as exc:
            raise TemporaryApiError(f"{what}: {type(exc).__name__}: {_short(exc)}") from None
        if response.status_code == 401 and attempt == 1:
            token.invalidate()
            continue
        return _answer(response, what)
    raise AssertionError("unreachable")


def _answer(response: requests.Response, what: str) -> Any:
    status = response.status_code
    if 200 <= status < 300:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TemporaryApiError(f"{what}: answer is not JSON") from None
    text = f"{what}: HTTP {status} {_problem(response)}".rstrip()
    if status in {401, 403}:
        # Consent withdrawn, a role missing: the admin's to fix; the request itself may be
        # fine, so it waits rather than being dropped.
        raise TemporaryApiError(text)
    if status in {408, 429} or status >= 500:
        raise TemporaryApiError(text)
    raise PermanentApiError(text)


def _problem(response: requests.Response) -> str:
    """Partner Center answers {"code", "description"}, Graph {"error": {"code", "message"}}
    (graph/errors), Entra ID {"error", "error_description"}."""
    try:
        data = response.json()
    except ValueError:
        return _short(response.text)
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict):
        return _short(f"{error.get('code', '')} {error.get('message', '')}")
    return _short(str(data.get("description") or data.get("error_description") or error or ""))


def _short(value: object) -> str:
    return re.sub(r"\s+", " ", str(value)).strip()[:300]


def field(data: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """A property in either case: Partner Center's answers are camelCase, its documented
    request bodies and some examples PascalCase
    (partner-center/developer/service-request-resources)."""
    if name in data:
        return data[name]
    lowered = name.lower()
    for key, value in data.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return default
