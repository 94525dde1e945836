"""`gatewayd run`, `gatewayd check-config` and `gatewayd services`."""

from __future__ import annotations

import argparse
import sys

from gateway.cli.base import EX_FAILURE, EX_OK, EX_USAGE, Commands, print_json, safe_url
from gateway.config import Config


def _run(config: Config, args: argparse.Namespace) -> int:
    from gateway.runtime.daemon import StartupError, run_daemon

    try:
        run_daemon(config)
    except StartupError as exc:
        print(f"gatewayd: {exc}", file=sys.stderr)
        return EX_FAILURE
    return EX_OK


def _check_config(config: Config, args: argparse.Namespace) -> int:
    from gateway.store.engine import sqlite_path_problem

    problem = sqlite_path_problem(config.storage.url)
    if problem:
        print(f"{config.path.name}: storage.url: {problem}", file=sys.stderr)
        return EX_USAGE
    for warning in config.warnings:
        print(f"{config.path.name}: warning: {warning}", file=sys.stderr)
    relay = config.outbound.relay
    smtp = f"{config.smtp.host}:{config.smtp.port}" if config.smtp else "off"
    print(f"{config.path}: ok")
    print(
        f"  partner   {config.partner.name} <{config.partner.address}>, "
        f"domains {', '.join(config.partner.domains)}, tag {config.partner.ticket_tag}"
    )
    print(f"  storage   {safe_url(config.storage.url)}")
    print(f"  intake    smtp {smtp}; imap {len(config.imap)} mailbox(es)")
    print(f"  outbound  {relay}")
    generated = len(config.generated_customers)
    from_file = f" ({generated} from {config.directory_settings.file})" if generated else ""
    print(
        f"  people    {len(config.customers)} customers{from_file}, {len(config.agents)} agents, "
        f"{len(config.parties)} parties"
    )
    microsoft = config.microsoft
    sign_in = (
        f"app {microsoft.client_id} in {microsoft.tenant_id}" if microsoft.signs_in else "no app"
    )
    print(f"  microsoft escalation {microsoft.escalation}, {sign_in}")
    print(f"  routing   {len(config.rules)} rules, {len(config.known_issues)} known issues")
    plans = ", ".join(
        f"{p.id} ({p.calendar.hours}{', default' if p.id == config.plans.default else ''})"
        for p in config.plans.plans
    )
    print(f"  plans     {plans}")
    metrics = f"{config.metrics.host}:{config.metrics.port}" if config.metrics else "off"
    outbound = config.outbound
    dkim = (
        f"selector {outbound.dkim_selector}, d={outbound.dkim_domain}"
        if outbound.dkim_key
        else "off"
    )
    print(
        f"  operate   metrics {metrics}; dkim {dkim}; stall alert after {config.alerts.stall_after}"
    )
    return EX_OK


SERVICE_COLUMNS = ("name", "kind", "where", "niceness", "restart", "wakes")


def _services(config: Config, args: argparse.Namespace) -> int:
    """The process table (gateway/runtime/services.py), in its order, which is the stop's."""
    from gateway.runtime.services import table

    rows = [row.as_json() for row in table()]
    if args.json:
        print_json(rows)
        return EX_OK
    lines: list[dict[str, str | int]] = [{column: column for column in SERVICE_COLUMNS}, *rows]
    widths = {column: max(len(str(line[column])) for line in lines) for column in SERVICE_COLUMNS}
    for line in lines:
        print("  ".join(str(line[c]).ljust(widths[c]) for c in SERVICE_COLUMNS).rstrip())
    return EX_OK


def register(commands: Commands) -> None:
    commands.add("run", _run, "run the daemon until SIGTERM/SIGINT; SIGHUP reloads the config")
    commands.add("check-config", _check_config, "validate the config and print a summary")
    services = commands.add(
        "services", _services, "the daemon's processes, threads, tasks and timers, and their policy"
    )
    services.add_argument("--json", action="store_true")
