"""`gatewayd microsoft login|check|topics` and `gatewayd customers sync [--dry-run]`."""

from __future__ import annotations

import argparse
import sys

from gateway.cli.base import EX_FAILURE, EX_OK, EX_USAGE, Commands
from gateway.config import Config


def _needs_app(config: Config) -> bool:
    if config.microsoft.signs_in:
        return True
    print(
        "microsoft: set tenant_id, client_id and client_secret or certificate_file first",
        file=sys.stderr,
    )
    return False


def _login(config: Config, args: argparse.Namespace) -> int:
    """Sign in once as a Partner Center user (App+User) with a device code; the refresh token
    goes to microsoft.token_file, readable by this user only."""
    from gateway.auth.partner_center_sign_in import device_login
    from gateway.auth.tokens import TokenError
    from gateway.microsoft.clients import entra_app, partner_center_scope

    if not _needs_app(config):
        return EX_USAGE
    token_file = config.microsoft.token_file
    assert token_file is not None

    def say(text: str) -> None:
        print(text, flush=True)

    try:
        user = device_login(
            entra_app(config.microsoft), partner_center_scope(config.microsoft), token_file, say
        )
    except TokenError as exc:
        print(f"gatewayd: {exc}", file=sys.stderr)
        return EX_FAILURE
    print(f"signed in as {user or '(unknown user)'}; kept in {token_file}")
    return EX_OK


def _check(config: Config, args: argparse.Namespace) -> int:
    """Sign in with each configured credential and say what works; no secret is printed."""
    lines, failed = check_lines(config)
    for line in lines:
        print(line)
    return EX_FAILURE if failed else EX_OK


def check_lines(config: Config) -> tuple[list[str], bool]:
    from gateway.auth.partner_center_sign_in import read_sign_in
    from gateway.auth.sources import mail_token
    from gateway.auth.tokens import TokenError
    from gateway.microsoft.api import ApiError
    from gateway.microsoft.clients import graph, graph_token, partner_center

    microsoft, lines, failed = config.microsoft, [], False
    if not microsoft.signs_in:
        return ["microsoft: no app credentials configured (tenant_id, client_id, secret)"], False
    how = "certificate" if microsoft.certificate_file else "client secret"
    checks = [
        f"imap[{m.name}] (Exchange Online, {how})" for m in config.imap if m.auth == "microsoft"
    ]
    if config.outbound.auth == "microsoft":
        checks.append(f"outbound (Exchange Online, {how})")
    for what in checks:
        token = mail_token("microsoft", "", what, microsoft)
        assert token is not None
        try:
            token.get()
            lines.append(f"{what}: signed in")
        except TokenError as exc:
            lines.append(f"{what}: FAILED: {exc}")
            failed = True
    tenants = [("partner tenant", microsoft.tenant_id)]
    tenants += [(f"customer {c.id}", c.tenant) for c in config.customers if c.graph_tenant]
    for what, tenant in tenants:
        try:
            issues = graph(microsoft).service_issues(graph_token(microsoft, tenant), tenant)
            lines.append(f"Graph service health, {what} ({tenant}): {len(issues)} issues")
        except (ApiError, TokenError) as exc:
            lines.append(f"Graph service health, {what} ({tenant}): FAILED: {exc}")
            failed = True
    if microsoft.escalation == "partner_center" or (
        microsoft.token_file and microsoft.token_file.exists()
    ):
        assert microsoft.token_file is not None
        try:
            sign_in = read_sign_in(microsoft.token_file)
            if sign_in is None:
                raise TokenError(
                    f"no sign-in in {microsoft.token_file}; run gatewayd microsoft login"
                )
            partner_center(microsoft).support_topics()
            lines.append(
                f"Partner Center: signed in as {sign_in.user} "
                f"(since {sign_in.signed_in_at:%Y-%m-%d}, renewed {sign_in.refreshed_at:%Y-%m-%d})"
            )
        except (ApiError, TokenError) as exc:
            lines.append(f"Partner Center: FAILED: {exc}")
            failed = True
    return lines, failed


def _topics(config: Config, args: argparse.Namespace) -> int:
    """The support topics Partner Center offers, for microsoft.support_topics."""
    from gateway.auth.tokens import TokenError
    from gateway.microsoft.api import ApiError
    from gateway.microsoft.clients import partner_center

    if not _needs_app(config):
        return EX_USAGE
    try:
        topics = partner_center(config.microsoft).support_topics()
    except (ApiError, TokenError) as exc:
        print(f"gatewayd: {exc}", file=sys.stderr)
        return EX_FAILURE
    mapped = {topic: category for category, topic in config.microsoft.support_topics}
    for topic in topics:
        used = f"  <- {mapped[topic.id]}" if topic.id in mapped else ""
        print(f"{topic.id}  {topic.name}{used}")
        if topic.description:
            print(f"    {topic.description}")
    return EX_OK


def _customers_sync(config: Config, args: argparse.Namespace) -> int:
    """The partner's customers from Partner Center into [directory] file."""
    from gateway.auth.tokens import TokenError
    from gateway.microsoft.api import ApiError
    from gateway.microsoft.customers import sync_from_config

    if config.directory_settings.file is None:
        print("directory.file: is required for customers sync", file=sys.stderr)
        return EX_USAGE
    if not _needs_app(config):
        return EX_USAGE
    try:
        plan = sync_from_config(config, args.dry_run)
    except (ApiError, TokenError) as exc:
        print(f"gatewayd: {exc}", file=sys.stderr)
        return EX_FAILURE
    for line in plan.changes:
        print(line)
    target = config.directory_settings.file
    if args.dry_run:
        print(f"dry run: {target} not written")
    elif plan.changed:
        print(f"written: {target}; gatewayd check-config validates it, SIGHUP takes it in")
    else:
        print(f"no change: {target}")
    return EX_OK


def register(commands: Commands) -> None:
    microsoft = commands.group(
        "microsoft", "microsoft: sign-in, checks and support topics", "login|check|topics"
    )
    microsoft.add("login", _login, "sign in to Partner Center once with a device code")
    microsoft.add("check", _check, "sign in with each configured credential; say what works")
    microsoft.add("topics", _topics, "the support topics Partner Center offers")
    customers = commands.group("customers", "customers: the list from Partner Center", "sync")
    sync = customers.add("sync", _customers_sync, "write [directory] file from Partner Center")
    sync.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
