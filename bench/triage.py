"""Triage benchmark: training on the shipped corpus, and decisions per second one mail at a time
and in batches of 100 (as the processor classifies a batch), on the held-out mails.

    python bench/triage.py [--rounds 5]

CPU seconds of this process (time.process_time), so other load on the machine weighs less.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.processing.triage_model import corpus_files, held_out_files, read_corpus  # noqa: E402
from routing.intents import MailText  # noqa: E402
from routing.triage import Model, train  # noqa: E402


def best_of(rounds: int, work: object) -> float:
    times = []
    for _ in range(rounds):
        started = time.process_time()
        work()  # type: ignore[operator]
        times.append(time.process_time() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="best of N (default 5)")
    args = parser.parse_args()
    started = time.process_time()
    import sklearn.linear_model  # noqa: F401  (its import is part of a first training)

    imported = time.process_time() - started
    examples = read_corpus(corpus_files())
    model: list[Model] = []
    training = best_of(args.rounds, lambda: model.append(train(examples)))
    mails: list[MailText] = [e.mail for e in read_corpus(held_out_files())]
    mails = (mails * (1000 // len(mails) + 1))[:1000]
    classifier = model[-1]
    single = best_of(args.rounds, lambda: [classifier.classify(m) for m in mails])
    batches = best_of(
        args.rounds,
        lambda: [classifier.classify_many(mails[i : i + 100]) for i in range(0, len(mails), 100)],
    )
    print(f"corpus: {len(examples)} training mails; held-out mails classified: {len(mails)}")
    print(f"import scikit-learn:    {imported:6.2f} s CPU (only when training)")
    print(f"training:               {training:6.2f} s CPU (best of {args.rounds})")
    print(
        f"one at a time:          {len(mails) / single:8.0f} decisions/s "
        f"({single / len(mails) * 1000:.3f} ms each)"
    )
    print(
        f"batches of 100:         {len(mails) / batches:8.0f} decisions/s "
        f"({batches / len(mails) * 1000:.3f} ms each)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
