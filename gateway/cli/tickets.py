"""`gatewayd tickets list|show` and `gatewayd outbox list`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import select

from gateway.cli.base import EX_FAILURE, EX_OK, Commands, open_store, print_json
from gateway.cli.plans import add_ticket_filters, sla_filtered, sla_lines, sla_summary, with_sla
from gateway.clock import now
from gateway.config import Config
from gateway.store.models import OutboxMessage, OutboxState


def _tickets_list(config: Config, args: argparse.Namespace) -> int:
    from gateway.processing.tickets import find_tickets, ticket_json

    store = open_store(config)
    with store.reader() as session:
        rows = find_tickets(session, args.status, args.customer)
        found = with_sla(session, config, rows, [ticket_json(session, t) for t in rows])
    found = sla_filtered(found, args.due_within, args.breached, now())
    if args.json:
        print_json(found)
        return EX_OK
    for t in found:
        print(
            f"{t['number']:>6}  {t['status']:<16} {t['customer'] or '-':<12} "
            f"{t['queue']:<10} {sla_summary(t['sla']):<22} {t['subject']}"
        )
    return EX_OK


def _tickets_show(config: Config, args: argparse.Namespace) -> int:
    from gateway.processing.tickets import ticket_json, ticket_numbered

    store = open_store(config)
    with store.reader() as session:
        ticket = ticket_numbered(session, args.number)
        data = ticket_json(session, ticket, full=True) if ticket else None
        if ticket and data:
            data = with_sla(session, config, [ticket], [data])[0]
    if data is None:
        print(f"no ticket {args.number}", file=sys.stderr)
        return EX_FAILURE
    if args.json:
        print_json(data)
        return EX_OK
    print(f"[{config.partner.ticket_tag}#{data['number']}] {data['subject']}")
    print(
        f"  status {data['status']}, customer {data['customer']}, requester {data['requester']},"
        f" queue {data['queue']}, route {data['route']['action']} -> {data['route']['target']}"
    )
    if data["cases"]:
        print(f"  upstream cases: {', '.join(data['cases'])}")
    for line in sla_lines(data["sla"]):
        print(f"  {line}")
    for entry in data["time"]:
        billable = "" if entry["billable"] else " nonbillable"
        spent = f"{entry['minutes']} min{billable}"
        print(f"  time {entry['at']} {entry['agent']} {spent} {entry['note']}")
    if data["service_request"]:
        request = data["service_request"]
        print(f"  service request: {request['id'] or '(not filed yet)'} ({request['status']})")
    for m in data["messages"]:
        print(f"\n--- {m['date']} {m['direction']} {m['kind']} from {m['from']}")
        print(m["text"])
    print()
    for e in data["events"]:
        print(f"  {e['at']} {e['what']}")
    return EX_OK


def _outbox_list(config: Config, args: argparse.Namespace) -> int:
    store = open_store(config)
    statement = select(OutboxMessage).order_by(OutboxMessage.id)
    if not args.all:
        statement = statement.where(OutboxMessage.state != OutboxState.SENT)
    with store.reader() as session:
        rows = [_outbox_json(row) for row in session.scalars(statement)]
    if args.json:
        print_json(rows)
        return EX_OK
    for r in rows:
        print(
            f"{r['id']:>6}  {r['state']:<8} {r['purpose']:<16} tries {r['attempts']:<3} "
            f"next {r['next_attempt_at']}  to {', '.join(r['recipients'])}"
        )
        if r["last_error"]:
            print(f"        last error: {r['last_error']}")
    return EX_OK


def _outbox_json(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "ticket": row.ticket_id,
        "purpose": row.purpose,
        "message_id": row.message_id,
        "recipients": row.recipients,
        "subject": row.subject,
        "state": row.state,
        "attempts": row.attempts,
        "created_at": row.created_at.isoformat(),
        "next_attempt_at": row.next_attempt_at.isoformat(),
        "last_error": row.last_error,
    }


def register(commands: Commands) -> None:
    tickets = commands.group("tickets", "list or show tickets", "list|show")
    listing = tickets.add("list", _tickets_list, "list tickets")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--status")
    listing.add_argument("--customer")
    add_ticket_filters(listing)
    show = tickets.add("show", _tickets_show, "one ticket in full")
    show.add_argument("number", type=int)
    show.add_argument("--json", action="store_true")
    outbox = commands.group("outbox", "outgoing mail not yet delivered", "list")
    waiting = outbox.add("list", _outbox_list, "waiting and failed mail")
    waiting.add_argument("--json", action="store_true")
    waiting.add_argument("--all", action="store_true", help="also mail already delivered")
