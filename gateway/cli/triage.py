"""`gatewayd triage evaluate|train|labels`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.cli.base import EX_OK, EX_USAGE, Commands, open_store, print_json
from gateway.config import Config


def _triage_evaluate(config: Config, args: argparse.Namespace) -> int:
    from gateway.processing.triage_model import Triager
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
        print_json({"classifier": classifier.as_json(), "policy": policy.as_json()})
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
    from gateway.processing.triage_labels import all_labels, label_json

    store = open_store(config)
    with store.reader() as session:
        rows = [label_json(label, number) for label, number in all_labels(session)]
    if args.json:
        print_json(rows)
        return EX_OK
    for row in rows:
        print(f"{row['ticket']:>6}  {row['intent']:<20} {row['agent']:<30} {row['at']}")
    return EX_OK


def _triage_train(config: Config, args: argparse.Namespace) -> int:
    from gateway.processing.triage_labels import examples
    from gateway.processing.triage_model import train_with_labels

    store = open_store(config)
    with store.reader() as session:
        labels = examples(session)
    result = train_with_labels(config.base_dir / "var", labels, args.dry_run)
    if args.json:
        print_json(result.as_json())
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


def register(commands: Commands) -> None:
    triage = commands.group(
        "triage", "triage: evaluate the classifier and the policy", "evaluate|train|labels"
    )
    train = triage.add(
        "train",
        _triage_train,
        "retrain on the corpus and the agents' labels; take it if not worse on held-out mail",
    )
    train.add_argument("--dry-run", action="store_true", help="only print the figures")
    train.add_argument("--json", action="store_true")
    labels = triage.add(
        "labels", _triage_labels, "the intents agents gave tickets (#intent, #escalate)"
    )
    labels.add_argument("--json", action="store_true")
    evaluate = triage.add(
        "evaluate",
        _triage_evaluate,
        "accuracy and confusion of triage and of the rules on labelled mail (JSON lines)",
    )
    evaluate.add_argument("file", type=Path, help="lines of subject, text, intent and/or expect")
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument(
        "--customer", help="route the lines as this customer's mail (default: no customer)"
    )
