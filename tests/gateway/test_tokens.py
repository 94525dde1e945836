"""The XOAUTH2 token command: run once and cached, run again on expiry or when the server
refused the token; its failures name the key and never show its output."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.auth import tokens
from gateway.auth.tokens import CommandToken, TokenError


def counting_command(tmp_path: Path) -> tuple[str, Path]:
    """A shell command that prints token-<n>, n counting its runs."""
    runs = tmp_path / "runs"
    runs.write_text("")
    return f"echo x >> {runs}; echo token-$(wc -l < {runs})", runs


def test_the_token_is_cached_and_fetched_again_when_refused(tmp_path: Path) -> None:
    command, runs = counting_command(tmp_path)
    token = CommandToken(command, "imap[0].token_command")
    assert token.get() == token.get() == "token-1"
    token.invalidate()
    assert token.get() == "token-2"
    assert runs.read_text().count("x") == 2


def test_the_token_is_fetched_again_once_it_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command, _ = counting_command(tmp_path)
    token = CommandToken(command, "imap[0].token_command")
    assert token.get() == "token-1"
    monkeypatch.setattr(tokens, "_LIFETIME_SECONDS", 0)
    assert token.get() == "token-2"


def test_a_failing_command_names_the_key_and_hides_its_output() -> None:
    token = CommandToken("echo secret-output; exit 3", "imap[0].token_command")
    with pytest.raises(TokenError) as caught:
        token.get()
    assert str(caught.value) == "imap[0].token_command: exited with status 3"


def test_the_expiry_of_a_jwt_is_read_and_other_tokens_have_none() -> None:
    import base64
    import json

    from gateway.auth.tokens import jwt_expiry

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    token = f"{part({'alg': 'RS256'})}.{part({'exp': 1796170000, 'aud': 'x'})}.c2ln"
    assert jwt_expiry(token) == 1796170000.0
    assert jwt_expiry("opaque-token") is None
    assert jwt_expiry("a.!!!.c") is None
    assert jwt_expiry(f"a.{part({'exp': 'soon'})}.c") is None
