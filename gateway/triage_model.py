"""The triage model of this installation: trained from the shipped corpus, kept under var/.

The corpus is `routing/corpus/*.jsonl` (the held-out part in `routing/corpus/heldout/` is never
trained on). Training takes scikit-learn about a second; the fitted model is kept as plain numpy
arrays (no pickled code) in `var/triage-<hash>.npz`, named by a hash of the corpus and of the
code that reads it, so a daemon starts with it in a few milliseconds and a changed corpus or a
new version trains again by itself. Where var/ cannot be written the model is trained in memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import routing.triage as triage_code
from gateway.logs import log_event
from parsers.message import ParsedMessage
from routing.intents import MailText, Triage
from routing.triage import Example, Model, forwarded_part, read_examples, train

log = logging.getLogger("gateway.triage")

CORPUS = Path(triage_code.__file__).resolve().parent / "corpus"


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
    digest = hashlib.sha256(Path(triage_code.__file__).read_bytes())
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def load_model(cache_dir: Path | None, files: Sequence[Path] | None = None) -> Model:
    """The model of `files` (the shipped corpus by default), from the cache or trained."""
    files = corpus_files() if files is None else files
    key = model_key(files)
    cached = cache_dir / f"triage-{key}.npz" if cache_dir else None
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
    if cached:
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
    """Classifies mail with the installation's model, loaded when first needed."""

    def __init__(self, cache_dir: Path | None) -> None:
        self._cache_dir = cache_dir
        self._model: Model | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Model:
        with self._lock:
            if self._model is None:
                self._model = load_model(self._cache_dir)
            return self._model

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
