"""`gatewayd report` and `gatewayd sla due`, and the SLA filters of `tickets list`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.cli.base import EX_OK, EX_USAGE, Commands, open_store
from gateway.config import Config, parse_duration
from routing.plans import PRIORITIES

FORMATS = ("text", "json", "csv", "html")


def register(commands: Commands) -> None:
    report = commands.add("report", _report, "a month's statement per customer")
    report.add_argument("--month", required=True, help="YYYY-MM")
    report.add_argument("--customer", help="only this customer")
    report.add_argument("--format", choices=FORMATS, default="text")
    report.add_argument("--json", action="store_true", help="the same as --format json")
    sla = commands.group("sla", "service levels: when a target falls due", "due")
    due = sla.add("due", _sla_due, "when a plan's targets fall due from a moment")
    due.add_argument(
        "--from", dest="start", required=True, help="ISO 8601, e.g. 2026-12-24T16:00+01:00"
    )
    due.add_argument("--plan", help="a [[plans]] id (default: support.plan)")
    due.add_argument("--priority", choices=PRIORITIES, default="normal")
    due.add_argument("--json", action="store_true")


def add_ticket_filters(listing: argparse.ArgumentParser) -> None:
    listing.add_argument(
        "--due-within", type=_duration, metavar="D", help='a running target due within D ("2h")'
    )
    listing.add_argument("--breached", action="store_true", help="a target was missed")


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _report(config: Config, args: argparse.Namespace) -> int:
    from gateway.clock import now
    from gateway.processing.plan_notices import build_report
    from gateway.reports.statement import Month

    try:
        month = Month.parse(args.month)
    except ValueError as exc:
        print(f"--month: {exc}", file=sys.stderr)
        return EX_USAGE
    if args.customer and config.customer(args.customer) is None:
        print(f"--customer: no [[customers]] entry has id {args.customer!r}", file=sys.stderr)
        return EX_USAGE
    store = open_store(config)
    try:
        report = build_report(store, config, month, now(), args.customer)
    finally:
        store.close()
    sys.stdout.write(_formatted(report, config, "json" if args.json else args.format))
    return EX_OK


def _formatted(report: Any, config: Config, form: str) -> str:
    from gateway.reports import formats

    if form == "json":
        return json.dumps(formats.report_json(report), indent=2, ensure_ascii=False) + "\n"
    if form == "csv":
        return formats.report_csv(report)
    language = config.partner.language
    if form == "html":
        from gateway.reports.html import report_html

        return report_html(report, config.partner.name, language, config.templates_folder)
    from gateway.delivery.templates import Templates

    return formats.report_text(report, Templates(config.templates_folder), language)


def _sla_due(config: Config, args: argparse.Namespace) -> int:
    try:
        start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
    except ValueError:
        print(f"--from: not an ISO 8601 time: {args.start!r}", file=sys.stderr)
        return EX_USAGE
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if args.plan and args.plan not in config.plans.ids():
        known = ", ".join(sorted(config.plans.ids()))
        print(f"--plan: no [[plans]] entry has id {args.plan!r} (known: {known})", file=sys.stderr)
        return EX_USAGE
    plan = config.plans.get(args.plan)
    result: dict[str, Any] = {"plan": plan.id, "priority": args.priority, "from": start.isoformat()}
    for clock in ("first_response", "resolution"):
        target = plan.target(clock, args.priority)
        due = plan.calendar.local(plan.calendar.due(start, target)) if target else None
        result[clock] = {
            "target_seconds": int(target.total_seconds()) if target else None,
            "due": due.isoformat() if due else None,
        }
    result["due"] = result["first_response"]["due"]
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EX_OK
    for clock in ("first_response", "resolution"):
        print(f"{clock:<15} {result[clock]['due'] or '(no target)'}")
    return EX_OK


def sla_filtered(
    found: Sequence[dict[str, Any]],
    due_within: timedelta | None,
    breached: bool,
    now: datetime,
) -> list[dict[str, Any]]:
    """Tickets (as `tickets list --json` has them, with "sla") that have a running target due
    before now + `due_within`, or, with `breached`, a target missed; either, when both."""
    if due_within is None and not breached:
        return list(found)
    limit = now + due_within if due_within is not None else None
    return [t for t in found if _matches(t["sla"], limit, breached)]


def _matches(sla: dict[str, Any], limit: datetime | None, breached: bool) -> bool:
    clocks = [c for c in (sla["first_response"], sla["resolution"]) if c is not None]
    if breached and any(c["breached"] for c in clocks):
        return True
    running = [c for c in clocks if not (c["met"] or c["breached"])]
    return limit is not None and any(datetime.fromisoformat(c["due"]) <= limit for c in running)


def with_sla(
    session: Any, config: Config, tickets: Sequence[Any], found: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each ticket's JSON with its "sla", in its customer's plan, at now."""
    from gateway.clock import now
    from gateway.processing import sla_state
    from gateway.processing.plan_timers import plan_for

    facts = sla_state.facts_of(session, tickets)
    find, moment = plan_for(config), now()
    for ticket, data in zip(tickets, found, strict=True):
        plan = find(ticket.customer_id)
        data["sla"] = sla_state.sla_json(plan, sla_state.sla_of(plan, facts[ticket.id], moment))
    return found


def sla_lines(sla: dict[str, Any]) -> list[str]:
    lines = []
    for clock in ("first_response", "resolution"):
        state = sla[clock]
        if state is None:
            continue
        how = "met" if state["met"] else "breached" if state["breached"] else "running"
        paused = ", paused" if state["paused"] else ""
        lines.append(f"{clock.replace('_', ' ')} due {state['due']}: {how}{paused}")
    return [f"plan {sla['plan']}", *lines]


def sla_summary(sla: dict[str, Any]) -> str:
    """One cell of `tickets list`: "breached", the next due time, or "-"."""
    clocks = [c for c in (sla["first_response"], sla["resolution"]) if c is not None]
    if any(c["breached"] for c in clocks):
        return "BREACHED"
    running = sorted(c["due"] for c in clocks if not c["met"])
    return f"due {running[0][:16].replace('T', ' ')}" if running else "-"
