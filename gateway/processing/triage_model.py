"""The triage model of this installation: trained from the shipped corpus, kept under var/.

The corpus is `routing/corpus/*.jsonl` (the held-out part in `routing/corpus/heldout/` is never
trained on). Training takes scikit-learn about a second; the fitted model is kept as plain numpy
arrays (no pickled code) in `var/triage-<hash>.npz`, named by a hash of the corpus and of the
code that reads it (`TRIAGE_CODE`), so a daemon starts with it in a few milliseconds and a
changed corpus or a new version trains again by itself. Where var/ cannot be written the model is
trained in memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import parsers.quote_markers
import parsers.quotes
import routing.intents
import routing.triage
import routing.triage_cues
import routing.triage_features
import routing.triage_text
from gateway.logs import log_event
from parsers.message import ParsedMessage
from routing.intents import MailText, Triage
from routing.triage import Example, Model, read_examples, train
from routing.triage_text import forwarded_part

log = logging.getLogger("gateway.triage")

CORPUS = Path(routing.triage.__file__).resolve().parent / "corpus"

# The code that turns the corpus and a mail into features and a model: routing/triage.py and all
# it imports of routing/ and parsers/ (the parser's quote rules decide what of a mail is read).
# A change to any of them trains again; tests/gateway/test_triage_model.py keeps the list whole.
TRIAGE_CODE = (
    routing.triage,
    routing.triage_text,
    routing.triage_cues,
    routing.triage_features,
    routing.intents,
    parsers.quotes,
    parsers.quote_markers,
)


def corpus_files(folder: Path = CORPUS) -> list[Path]:
    return sorted(folder.glob("*.jsonl"))


def held_out_files(folder: Path = CORPUS) -> list[Path]:
    return sorted((folder / "heldout").glob("*.jsonl"))


def read_corpus(files: Sequence[Path]) -> list[Example]:
    examples = []
    for path in files:
        try:
            examples.extend(read_examples(path.read_text(encoding="utf-8").splitlines()))
        except ValueError as exc:
            raise ValueError(f"{path.name}: {exc}") from None
    return examples


def model_key(files: Sequence[Path]) -> str:
    """Changes with the corpus and with the code that turns it into a model."""
    digest = hashlib.sha256()
    for module in TRIAGE_CODE:
        digest.update(Path(str(module.__file__)).read_bytes() + b"\0")
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def partner_model_path(cache_dir: Path, files: Sequence[Path] | None = None) -> Path:
    """Where `gatewayd triage train` keeps the model that learnt the partner's labels too; it
    is used instead of the corpus's own while corpus and code are those it was trained with."""
    return cache_dir / f"triage-{model_key(corpus_files() if files is None else files)}-partner.npz"


def load_model(cache_dir: Path | None, files: Sequence[Path] | None = None) -> Model:
    """The model of `files` (the shipped corpus by default), from the cache or trained; the
    partner's model where one was taken into use."""
    files = corpus_files() if files is None else files
    key = model_key(files)
    partner = cache_dir / f"triage-{key}-partner.npz" if cache_dir else None
    cached = cache_dir / f"triage-{key}.npz" if cache_dir else None
    if partner and partner.exists():
        cached = partner
    if cached and cached.exists():
        try:
            with np.load(cached, allow_pickle=False) as arrays:
                return Model.from_arrays(dict(arrays))
        except (OSError, ValueError, KeyError) as exc:
            log_event(
                log,
                "triage.cache_unreadable",
                level=logging.WARNING,
                path=str(cached),
                error=str(exc),
            )
    model = train(read_corpus(files))
    if cached and cached != partner:
        _keep(model, cached)
    log_event(log, "triage.trained", key=key, cached=bool(cached))
    return model


def _keep(model: Model, path: Path) -> None:
    """Written beside and renamed: a daemon starting meanwhile never reads half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **model.to_arrays())
        os.replace(temporary, path)
    except OSError as exc:
        log_event(
            log, "triage.cache_not_written", level=logging.WARNING, path=str(path), error=str(exc)
        )


class Triager:
    """Classifies mail with the installation's model, loaded when first needed, and again when
    `gatewayd triage train` took a new partner model into use."""

    def __init__(self, cache_dir: Path | None) -> None:
        self._cache_dir = cache_dir
        self._model: Model | None = None
        self._partner: tuple[Path, float] | None = None  # the partner model loaded, its mtime
        self._partner_path: Path | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Model:
        with self._lock:
            partner = self._partner_model()
            if self._model is None or partner != self._partner:
                self._model = load_model(self._cache_dir)
                self._partner = partner
            return self._model

    def _partner_model(self) -> tuple[Path, float] | None:
        if self._cache_dir is None:
            return None
        if self._partner_path is None:  # named by a hash of the corpus: found once
            self._partner_path = partner_model_path(self._cache_dir)
        try:
            return self._partner_path, self._partner_path.stat().st_mtime
        except OSError:
            return None

    def classify_many(self, mails: Sequence[MailText], evidence: bool = True) -> list[Triage]:
        return self.model.classify_many(mails, evidence)

    def classify(self, mail: MailText, evidence: bool = True) -> Triage:
        return self.model.classify_many([mail], evidence)[0]


def mail_text(message: ParsedMessage) -> MailText:
    """What triage reads of a parsed message: its subject, its new text, and the content of a
    forwarded mail (the parser's `forwarded` where it gives one, else read from the full text)."""
    forwarded = getattr(message, "forwarded", None)
    text = getattr(forwarded, "text", None)
    if not isinstance(text, str):
        text = forwarded_part(message.subject, message.full_text)
    return MailText(message.subject, message.text, text)


# --- learning from the partner's labels ---

PARTNER_WEIGHT = 3  # a partner's label counts as this many corpus mails: its own customers' words
LABELS_HELD_OUT = 5  # one label in five is kept out of training, to test on
LABELS_FOR_A_TEST = 10  # fewer labels than this are all trained on


@dataclass(frozen=True)
class Training:
    """What `gatewayd triage train` found: held-out accuracy of the model in use and of the
    candidate, on the corpus and on the partner's labels (None: too few labels to test)."""

    labels: int
    tested_labels: int
    corpus_before: float
    corpus_after: float
    labels_before: float | None
    labels_after: float | None
    taken: bool

    def as_json(self) -> dict[str, object]:
        return {
            "labels": self.labels,
            "tested_labels": self.tested_labels,
            "corpus": {
                "before": round(self.corpus_before, 4),
                "after": round(self.corpus_after, 4),
            },
            "partner_labels": {
                "before": None if self.labels_before is None else round(self.labels_before, 4),
                "after": None if self.labels_after is None else round(self.labels_after, 4),
            },
            "taken": self.taken,
        }


def train_with_labels(cache_dir: Path, labels: Sequence[Example], dry_run: bool) -> Training:
    """Train on the corpus and the partner's labels; take the candidate into use only if it is
    not worse than the model in use on the corpus's held-out part nor on the held-out labels."""
    files = corpus_files()
    tested = [
        e for e in labels if len(labels) >= LABELS_FOR_A_TEST and e.line % LABELS_HELD_OUT == 0
    ]
    learnt = [e for e in labels if e not in tested]
    current = load_model(cache_dir, files)
    candidate = train(read_corpus(files) + list(learnt) * PARTNER_WEIGHT)
    held_out = read_corpus(held_out_files())
    before, after = _accuracy(current, held_out), _accuracy(candidate, held_out)
    labels_before = _accuracy(current, tested) if tested else None
    labels_after = _accuracy(candidate, tested) if tested else None
    taken = after >= before and (labels_before is None or (labels_after or 0.0) >= labels_before)
    if taken and not dry_run:
        _keep(candidate, partner_model_path(cache_dir, files))
    result = Training(len(labels), len(tested), before, after, labels_before, labels_after, taken)
    log_event(log, "triage.train", dry_run=dry_run, **_flat(result.as_json()))
    return result


def _accuracy(model: Model, examples: Sequence[Example]) -> float:
    results = model.classify_many([e.mail for e in examples], evidence=False)
    right = sum(e.intent == r.top for e, r in zip(examples, results, strict=True))
    return right / len(examples) if examples else 0.0


def _flat(data: dict[str, object]) -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update({f"{key}_{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat
