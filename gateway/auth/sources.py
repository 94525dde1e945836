"""Which token an [[imap]] mailbox or [outbound] signs in with: an admin's command
(`auth = "xoauth2"`), the app's own Entra ID sign-in for Exchange Online (`auth =
"microsoft"`), or none (a password). MSAL is imported only when it is used."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.auth.tokens import CommandToken

if TYPE_CHECKING:
    from gateway.auth.microsoft import TokenSource
    from gateway.config import Microsoft


def mail_token(
    auth: str,
    token_command: str,
    key: str,
    microsoft: Microsoft | None,
    on_problem: Callable[[str, str], None] | None = None,
) -> TokenSource | None:
    if auth == "xoauth2":
        return CommandToken(token_command, f"{key}.token_command")
    if auth == "microsoft" and microsoft is not None:
        from gateway.auth.microsoft import AppToken
        from gateway.microsoft.clients import entra_app

        return AppToken(
            entra_app(microsoft), microsoft.exchange_scope, key=f"{key}.auth", on_problem=on_problem
        )
    return None
