"""Messages per second of the full parser over the whole shared corpus, against the stdlib's
`email.message_from_bytes(policy=default)` + `get_body()` alone, in the same run; then the
per-set corpus figures.

    .venv/bin/python bench/parse.py [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parsers.message import Unparseable, parse_message  # noqa: E402
from tests.corpus import scoring  # noqa: E402


def stdlib_only(raw: bytes) -> None:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    with contextlib.suppress(Exception):  # the stdlib raises on some broken structures
        message.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]


def full_parser(raw: bytes) -> None:
    with contextlib.suppress(Unparseable):
        parse_message(raw)


def rate(parse: Callable[[bytes], None], messages: list[bytes], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in messages:
            parse(raw)
        best = min(best, time.perf_counter() - started)
    return len(messages) / best


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--rounds", type=int, default=3, help="best of N runs (default 3)")
    rounds = arguments.parse_args().rounds
    if not scoring.CORPUS.is_dir():
        print(f"no corpus at {scoring.CORPUS}", file=sys.stderr)
        return 2
    messages = scoring.message_files()
    stdlib = rate(stdlib_only, messages, rounds)
    ours = rate(full_parser, messages, rounds)
    print(f"{len(messages)} messages from {scoring.CORPUS}, best of {rounds} rounds")
    print(f"stdlib parse + get_body: {stdlib:8.0f} messages/s")
    print(f"gatewayd parse_message:  {ours:8.0f} messages/s")
    print(f"ratio:                   {ours / stdlib:8.2f}  (aim >= 0.5)")
    print()
    for run in scoring.SETS.values():
        print(run().line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
