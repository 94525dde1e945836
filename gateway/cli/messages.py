"""Commands on one message: `ingest` (the mail pipe), `parse`, `route --explain`, and `replay`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gateway.cli.base import EX_FAILURE, EX_OK, Commands, open_store, print_json
from gateway.config import Config
from gateway.store.models import RawMessage, RawState
from gateway.store.raw_messages import IncomingRaw


def _ingest(config: Config, args: argparse.Namespace) -> int:
    data = args.file.read_bytes() if args.file else sys.stdin.buffer.read()
    item = IncomingRaw(
        data=data,
        via="pipe",
        source=str(args.file or "stdin"),
        mail_from=args.sender,
        rcpt_to=tuple(r.lower() for r in args.recipient),
    )
    store = open_store(config)
    try:
        (raw_id,) = store.insert_raw([item])
    finally:
        store.close()
    print(
        f"stored as raw message {raw_id}" if raw_id else "already stored (duplicate)",
        file=sys.stderr,
    )
    return EX_OK


def _parse(config: Config, args: argparse.Namespace) -> int:
    from parsers.message import Unparseable, parse_message

    try:
        message = parse_message(args.file.read_bytes(), args.sender)
    except Unparseable as exc:  # no bytes at all: no MTA delivers such a file
        print(f"{args.file}: cannot be parsed: {exc}", file=sys.stderr)
        return EX_FAILURE
    if args.json:
        print_json(message.as_json())
        return EX_OK
    data = message.as_json()
    for key in ("from", "to", "cc", "subject", "message_id", "in_reply_to", "date", "kind"):
        print(f"{key + ':':13}{data[key]}")
    for attachment in message.attachments:
        print(
            f"attachment:  {attachment.filename} ({attachment.content_type}, "
            f"{attachment.size} bytes)"
        )
    for defect in message.defects:
        print(f"defect:      {defect}")
    print()
    print(message.text)
    if message.forwarded:
        forwarded = message.forwarded.as_json()
        print(f"\n---------- forwarded from {forwarded['from']} ({forwarded['date']})")
        print(f"subject:     {forwarded['subject']}\n\n{forwarded['text']}")
    return EX_OK


def _route(config: Config, args: argparse.Namespace) -> int:
    from gateway.delivery.templates import Templates
    from gateway.processing.context import Context
    from gateway.processing.decision import request_text
    from gateway.processing.identity import identify
    from parsers.message import Unparseable, parse_message
    from routing.service_health import why_matched

    try:
        message = parse_message(args.explain.read_bytes(), args.sender)
    except Unparseable as exc:
        print(f"{args.explain}: cannot be parsed: {exc}", file=sys.stderr)
        return EX_FAILURE
    who = identify(message.from_addr, config)
    context = Context(config, Templates(config.templates_folder))
    routed = _decided(message, who, context)
    incident, triage, decision = routed.incident, routed.triage, routed.decision
    assert triage is not None  # explain=True classifies
    result = decision.as_json(who.customer.id if who.customer else None)
    result["known_issue"] = incident.id if incident else None
    result["known_issue_why"] = (
        why_matched(incident, message.subject, request_text(message)) if incident else []
    )
    result["triage"] = triage.as_json()
    if args.json:
        print_json(result)
        return EX_OK
    intents = ", ".join(f"{name} {p:.2f}" for name, p in triage.intents if p >= 0.01)
    print(f"triage:   {triage.top} {triage.confidence:.2f} (language {triage.language})")
    print(f"intents:  {intents}")
    print(f"evidence: {', '.join(triage.evidence) or '-'}")
    if incident:
        why = "; ".join(result["known_issue_why"])
        print(f"known issue: {incident.id} ({why}): {incident.title}")
    print(
        f"{decision.action} -> {decision.target} (queue {decision.queue}); "
        f"customer {result['customer'] or 'unknown'}; rule {decision.rule or '(none matched)'}"
    )
    if decision.suggestion:
        print(f"  {decision.suggestion.line()}")
    for step in decision.trace:
        held = ", ".join(f"{c['when']}={'yes' if c['held'] else 'no'}" for c in step["conditions"])
        print(f"  {'MATCH' if step['matched'] else 'no   '} {step['rule']}: {held}")
    return EX_OK


def _replay(config: Config, args: argparse.Namespace) -> int:
    from gateway.delivery.templates import Templates
    from gateway.processing.context import Context
    from gateway.processing.processor import process_again

    states = (RawState.QUARANTINED,) if args.quarantined else (RawState.NEW,)
    if args.id:
        states = (RawState.NEW, RawState.QUARANTINED)
    store = open_store(config)
    statement = select(RawMessage.id).where(RawMessage.state.in_(states)).order_by(RawMessage.id)
    if args.id:
        statement = statement.where(RawMessage.id.in_(args.id))
    with store.reader() as session:
        ids = list(session.scalars(statement))
    context = Context(config, Templates(config.templates_folder))
    for start in range(0, len(ids), 50):
        process_again(store, context, ids[start : start + 50], states)
    with store.reader() as session:
        rows = session.execute(
            select(RawMessage.id, RawMessage.state, RawMessage.error).where(RawMessage.id.in_(ids))
        ).all()
    result = [
        {"raw": i, "state": state, "error": (error or "").splitlines()[:1]}
        for i, state, error in rows
    ]
    if args.json:
        print_json(result)
    else:
        for r in result:
            print(f"raw {r['raw']}: {r['state']}" + (f" ({r['error'][0]})" if r["error"] else ""))
        print(f"{len(result)} message(s) replayed")
    return EX_OK


def _decided(message: Any, who: Any, context: Any) -> Any:
    """As the processor decides: with the Graph service health the daemon polled, when there is
    any (a tenant's own incidents count only for its customer)."""
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.processing.decision import decide
    from gateway.store.engine import Store
    from gateway.store.faults import StorageUnavailable
    from gateway.store.models import utcnow

    config = context.config
    if not config.microsoft.signs_in:
        return decide(message, who, context, utcnow(), explain=True)
    try:
        store = Store(config.storage.url)
        try:
            with store.reader() as session:
                return decide(message, who, context, utcnow(), explain=True, session=session)
        finally:
            store.close()
    except (StorageUnavailable, SQLAlchemyError):  # no database yet: what the config knows
        return decide(message, who, context, utcnow(), explain=True)


def register(commands: Commands) -> None:
    ingest = commands.add("ingest", _ingest, "store one message from FILE or stdin (a mail pipe)")
    ingest.add_argument("file", nargs="?", type=Path)
    ingest.add_argument("--sender", help='envelope sender, as the MTA gives it ("" for <>)')
    ingest.add_argument("--recipient", action="append", default=[], help="envelope recipient")
    parse = commands.add("parse", _parse, "show how the gateway reads a message")
    parse.add_argument("file", type=Path)
    parse.add_argument("--json", action="store_true")
    parse.add_argument("--sender", help="envelope sender: where a mail without From: came from")
    route = commands.add("route", _route, "show the routing decision for a message, and why")
    route.add_argument("--explain", type=Path, required=True, metavar="FILE")
    route.add_argument("--json", action="store_true")
    route.add_argument("--sender", help="envelope sender: where a mail without From: came from")
    replay = commands.add("replay", _replay, "process stored raw messages again")
    replay.add_argument("--quarantined", action="store_true", help="the quarantined messages")
    replay.add_argument("--id", type=int, action="append", default=[], help="this raw message")
    replay.add_argument("--json", action="store_true")
