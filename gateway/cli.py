"""The `gatewayd` command line. Exit 0 on success, 2 on a usage or config error (one line per
problem, naming the key), 75 (EX_TEMPFAIL) when storage is unavailable."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gateway.config import Config, ConfigError, load_config
from gateway.daemon import StartupError
from gateway.logs import setup_logging
from gateway.storage import (
    IncomingRaw,
    OutboxMessage,
    OutboxState,
    RawMessage,
    RawState,
    StorageUnavailable,
    Store,
)

EX_OK, EX_FAILURE, EX_USAGE, EX_TEMPFAIL = 0, 1, 2, 75


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EX_USAGE
    setup_logging(getattr(args, "log_level", "INFO" if args.command == "run" else "WARNING"))
    try:
        config_path = getattr(args, "config", Path("config.toml"))
        config = load_config(config_path, create_secret=args.command == "run")
        return int(args.handler(config, args) or EX_OK)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.path.name}: {problem}", file=sys.stderr)
        return EX_USAGE
    except StorageUnavailable as exc:
        print(f"storage unavailable: {exc}", file=sys.stderr)
        return EX_TEMPFAIL
    except StartupError as exc:
        print(f"gatewayd: {exc}", file=sys.stderr)
        return EX_FAILURE


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not overwrite an option given before the subcommand.
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (default: ./config.toml)",
    )
    common.add_argument(
        "--log-level", default=argparse.SUPPRESS, choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser = argparse.ArgumentParser(
        prog="gatewayd",
        parents=[common],
        description="Email ticket gateway of a Microsoft CSP partner",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    command("run", _run, "run the daemon until SIGTERM/SIGINT; SIGHUP reloads the config")
    command("check-config", _check_config, "validate the config and print a summary")
    ingest = command("ingest", _ingest, "store one message from FILE or stdin (a mail pipe)")
    ingest.add_argument("file", nargs="?", type=Path)
    ingest.add_argument("--sender", help='envelope sender, as the MTA gives it ("" for <>)')
    ingest.add_argument("--recipient", action="append", default=[], help="envelope recipient")
    parse = command("parse", _parse, "show how the gateway reads a message")
    parse.add_argument("file", type=Path)
    parse.add_argument("--json", action="store_true")
    parse.add_argument("--sender", help="envelope sender: where a mail without From: came from")
    route = command("route", _route, "show the routing decision for a message, and why")
    route.add_argument("--explain", type=Path, required=True, metavar="FILE")
    route.add_argument("--json", action="store_true")
    route.add_argument("--sender", help="envelope sender: where a mail without From: came from")
    triage = command("triage", None, "triage: evaluate the classifier and the policy")
    triage_commands = triage.add_subparsers(
        dest="triage_command", metavar="evaluate|train|labels", required=True
    )
    train = triage_commands.add_parser(
        "train",
        parents=[common],
        help="retrain on the corpus and the agents' labels; take it if not worse on held-out mail",
    )
    train.set_defaults(handler=_triage_train)
    train.add_argument("--dry-run", action="store_true", help="only print the figures")
    train.add_argument("--json", action="store_true")
    labels = triage_commands.add_parser(
        "labels", parents=[common], help="the intents agents gave tickets (#intent, #escalate)"
    )
    labels.set_defaults(handler=_triage_labels)
    labels.add_argument("--json", action="store_true")
    evaluate = triage_commands.add_parser(
        "evaluate",
        parents=[common],
        help="accuracy and confusion of triage and of the rules on labelled mail (JSON lines)",
    )
    evaluate.set_defaults(handler=_triage_evaluate)
    evaluate.add_argument("file", type=Path, help="lines of subject, text, intent and/or expect")
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument(
        "--customer", help="route the lines as this customer's mail (default: no customer)"
    )
    tickets = command("tickets", None, "list or show tickets")
    ticket_commands = tickets.add_subparsers(
        dest="tickets_command", metavar="list|show", required=True
    )
    listing = ticket_commands.add_parser("list", parents=[common], help="list tickets")
    listing.set_defaults(handler=_tickets_list)
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--status")
    listing.add_argument("--customer")
    show = ticket_commands.add_parser("show", parents=[common], help="one ticket in full")
    show.set_defaults(handler=_tickets_show)
    show.add_argument("number", type=int)
    show.add_argument("--json", action="store_true")
    out = command("outbox", None, "outgoing mail not yet delivered")
    out_commands = out.add_subparsers(dest="outbox_command", metavar="list", required=True)
    out_list = out_commands.add_parser("list", parents=[common], help="waiting and failed mail")
    out_list.set_defaults(handler=_outbox_list)
    out_list.add_argument("--json", action="store_true")
    out_list.add_argument("--all", action="store_true", help="also mail already delivered")
    replay = command("replay", _replay, "process stored raw messages again")
    replay.add_argument("--quarantined", action="store_true", help="the quarantined messages")
    replay.add_argument("--id", type=int, action="append", default=[], help="this raw message")
    replay.add_argument("--json", action="store_true")
    return parser


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _open_store(config: Config) -> Store:
    store = Store(config.storage.url)
    store.migrate()
    return store


def _run(config: Config, args: argparse.Namespace) -> int:
    from gateway.daemon import run_daemon

    run_daemon(config)
    return EX_OK


def _check_config(config: Config, args: argparse.Namespace) -> int:
    from gateway.storage import sqlite_path_problem

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
    print(f"  storage   {_safe_url(config.storage.url)}")
    print(f"  intake    smtp {smtp}; imap {len(config.imap)} mailbox(es)")
    print(f"  outbound  {relay}")
    print(
        f"  people    {len(config.customers)} customers, {len(config.agents)} agents, "
        f"{len(config.parties)} parties"
    )
    print(f"  routing   {len(config.rules)} rules, {len(config.known_issues)} known issues")
    return EX_OK


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _ingest(config: Config, args: argparse.Namespace) -> int:
    data = args.file.read_bytes() if args.file else sys.stdin.buffer.read()
    item = IncomingRaw(
        data=data,
        via="pipe",
        source=str(args.file or "stdin"),
        mail_from=args.sender,
        rcpt_to=tuple(r.lower() for r in args.recipient),
    )
    store = _open_store(config)
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
        _print_json(message.as_json())
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
    from gateway.identity import identify
    from gateway.processor import request_text, route
    from gateway.service_health import ServiceHealth
    from gateway.storage import utcnow
    from gateway.triage_model import Triager, mail_text
    from parsers.message import Unparseable, parse_message
    from routing.service_health import why_matched

    try:
        message = parse_message(args.explain.read_bytes(), args.sender)
    except Unparseable as exc:
        print(f"{args.explain}: cannot be parsed: {exc}", file=sys.stderr)
        return EX_FAILURE
    who = identify(message.from_addr, config)
    incident = ServiceHealth(config).incident_for(message.subject, request_text(message), utcnow())
    triage = Triager(config.base_dir / "var").classify(mail_text(message))
    decision = route(message, who, config, known_issue=incident is not None, triage=triage)
    result = decision.as_json(who.customer.id if who.customer else None)
    result["known_issue"] = incident.id if incident else None
    result["known_issue_why"] = (
        why_matched(incident, message.subject, request_text(message)) if incident else []
    )
    result["triage"] = triage.as_json()
    if args.json:
        _print_json(result)
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


def _triage_evaluate(config: Config, args: argparse.Namespace) -> int:
    from gateway.triage_model import Triager
    from routing.triage import read_examples

    try:
        examples = read_examples(args.file.read_text(encoding="utf-8").splitlines())
    except (OSError, ValueError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return EX_USAGE
    if args.customer and config.customer(args.customer) is None:
        print(f"--customer: no [[customers]] entry has id {args.customer!r}", file=sys.stderr)
        return EX_USAGE
    results = Triager(config.base_dir / "var").classify_many([e.mail for e in examples])
    classifier, policy = _evaluated(config, args.customer, examples, results)
    if args.json:
        _print_json({"classifier": classifier.as_json(), "policy": policy.as_json()})
        return EX_OK
    for title, score in (("classifier", classifier), ("policy", policy)):
        if not score.outcomes:
            continue
        print("\n".join(score.lines(title)))
        for o in score.wrong():
            print(
                f"  line {o.line}: expected {o.expected}, got {o.got} ({o.confidence:.2f}) "
                f"{o.subject[:60]}"
            )
        print()
    return EX_OK


def _triage_labels(config: Config, args: argparse.Namespace) -> int:
    from gateway.triage_labels import all_labels, label_json

    store = _open_store(config)
    with store.reader() as session:
        rows = [label_json(label, number) for label, number in all_labels(session)]
    if args.json:
        _print_json(rows)
        return EX_OK
    for row in rows:
        print(f"{row['ticket']:>6}  {row['intent']:<20} {row['agent']:<30} {row['at']}")
    return EX_OK


def _triage_train(config: Config, args: argparse.Namespace) -> int:
    from gateway.triage_labels import examples
    from gateway.triage_model import train_with_labels

    store = _open_store(config)
    with store.reader() as session:
        labels = examples(session)
    result = train_with_labels(config.base_dir / "var", labels, args.dry_run)
    if args.json:
        _print_json(result.as_json())
        return EX_OK
    print(f"labels: {result.labels} ({result.tested_labels} held out to test on)")
    print(
        f"corpus held-out accuracy: in use {result.corpus_before:.1%}, "
        f"candidate {result.corpus_after:.1%}"
    )
    if result.labels_before is not None and result.labels_after is not None:
        print(
            f"held-out labels accuracy: in use {result.labels_before:.1%}, "
            f"candidate {result.labels_after:.1%}"
        )
    verdict = "taken into use" if result.taken else "worse: the model in use stays"
    print(f"candidate: {verdict}{' (dry run: nothing written)' if args.dry_run else ''}")
    return EX_OK


def _evaluated(
    config: Config, customer_id: str | None, examples: list[Any], results: list[Any]
) -> tuple[Any, Any]:
    """The classifier's intents and the policy's routes against the lines' labels."""
    from routing import Facts, decide
    from routing.evaluation import Outcome, route_of, scores
    from routing.intents import INTENTS, expected_route

    customer = config.customer(customer_id)
    intents, routes = [], []
    for example, triage in zip(examples, results, strict=True):
        line, subject, language = example.line, example.mail.subject, example.language
        if example.intent:
            intents.append(
                Outcome(line, subject, language, example.intent, triage.top, triage.confidence)
            )
        facts = Facts(
            subject=example.mail.subject,
            text=example.mail.text,
            sender="",
            customer=customer.id if customer else None,
            billing=customer.billing if customer else None,
            provider=customer.provider if customer else None,
            direct_microsoft=bool(customer and customer.direct_microsoft),
            forwarded_text=example.mail.forwarded_text,
            triage=triage,
        )
        expected = example.expect or expected_route(example.intent or "baseline")
        got = route_of(decide(facts, config.rules))
        routes.append(Outcome(line, subject, language, expected, got, triage.confidence))
    return scores(INTENTS, intents), scores(("escalate", "sales", "baseline"), routes)


def _tickets_list(config: Config, args: argparse.Namespace) -> int:
    from gateway.tickets import find_tickets, ticket_json

    store = _open_store(config)
    with store.reader() as session:
        found = [ticket_json(session, t) for t in find_tickets(session, args.status, args.customer)]
    if args.json:
        _print_json(found)
        return EX_OK
    for t in found:
        print(
            f"{t['number']:>6}  {t['status']:<16} {t['customer'] or '-':<12} "
            f"{t['queue']:<10} {t['subject']}"
        )
    return EX_OK


def _tickets_show(config: Config, args: argparse.Namespace) -> int:
    from gateway.tickets import ticket_json, ticket_numbered

    store = _open_store(config)
    with store.reader() as session:
        ticket = ticket_numbered(session, args.number)
        data = ticket_json(session, ticket, full=True) if ticket else None
    if data is None:
        print(f"no ticket {args.number}", file=sys.stderr)
        return EX_FAILURE
    if args.json:
        _print_json(data)
        return EX_OK
    print(f"[{config.partner.ticket_tag}#{data['number']}] {data['subject']}")
    print(
        f"  status {data['status']}, customer {data['customer']}, requester {data['requester']},"
        f" queue {data['queue']}, route {data['route']['action']} -> {data['route']['target']}"
    )
    if data["cases"]:
        print(f"  upstream cases: {', '.join(data['cases'])}")
    for m in data["messages"]:
        print(f"\n--- {m['date']} {m['direction']} {m['kind']} from {m['from']}")
        print(m["text"])
    print()
    for e in data["events"]:
        print(f"  {e['at']} {e['what']}")
    return EX_OK


def _outbox_list(config: Config, args: argparse.Namespace) -> int:
    store = _open_store(config)
    statement = select(OutboxMessage).order_by(OutboxMessage.id)
    if not args.all:
        statement = statement.where(OutboxMessage.state != OutboxState.SENT)
    with store.reader() as session:
        rows = [_outbox_json(row) for row in session.scalars(statement)]
    if args.json:
        _print_json(rows)
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


def _replay(config: Config, args: argparse.Namespace) -> int:
    from gateway.processor import Context, process_again
    from gateway.templates import Templates

    states = (RawState.QUARANTINED,) if args.quarantined else (RawState.NEW,)
    if args.id:
        states = (RawState.NEW, RawState.QUARANTINED)
    store = _open_store(config)
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
        _print_json(result)
    else:
        for r in result:
            print(f"raw {r['raw']}: {r['state']}" + (f" ({r['error'][0]})" if r["error"] else ""))
        print(f"{len(result)} message(s) replayed")
    return EX_OK
