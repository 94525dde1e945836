"""Triage: the intent of a customer's mail, with a probability for each, its language and why.

The seven intents are the CSP partner's one decision per message (DESIGN §1): five categories that
go upstream (`UPSTREAM`), `subscription` (sales) and `baseline` (the partner's own helpdesk).

How it reads a mail
-------------------
The classifier reads the subject, the new text and the forwarded text, never the quoted history
(routing/triage_text.py). The features are TF-IDF weights of words and word pairs, TF-IDF weights
of character n-grams within words (2 to 5 characters: a Dutch compound such as "netwerkstoring"
shares "stor" and "netw" with its parts, and a typo keeps most of its n-grams;
routing/triage_features.py), and a few cues that carry the partner's meaning whatever the
language (routing/triage_cues.py: many users or "only me", other companies too, the customer's
own network, a past incident, an error code). A multinomial logistic regression weighs them into
probabilities.

This module holds the model, the labelled corpus's reading and the training. Learning is
scikit-learn's (`train`, used when the corpus changes); reading a mail is not: the fitted
vocabularies, IDF weights and coefficients become a `Model` of plain arrays, and
`Model.classify_many` computes the same TF-IDF (`tests/routing/test_triage.py` checks it equals
scikit-learn's) and the same probabilities with numpy alone. Importing scikit-learn costs about
a second of CPU, which the daemon need not spend at each start; a batch of mails is classified with
one matrix product.

Pure: no I/O (the caller reads the corpus and keeps the model), nothing from `gateway/`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from routing.intents import INTENTS, MailText, Triage
from routing.triage_cues import CUE_NAMES, cue_vector
from routing.triage_features import (
    CHAR_NGRAMS,
    WORD_NGRAMS,
    WORD_PATTERN,
    FloatArray,
    IntArray,
    Vocabulary,
    word_terms,
    word_tokens,
)
from routing.triage_text import detect_language, document, mail_parts

# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    intents: tuple[str, ...]
    words: Vocabulary
    chars: Vocabulary
    coef: FloatArray  # intents x (words + chars + cues)
    intercept: FloatArray
    temperature: float = 1.0  # the logits are divided by it
    _names: list[str] = field(default_factory=list, repr=False, compare=False)
    # (words + chars + cues) x intents, contiguous: a mail's features pick rows of it
    _weights: FloatArray = field(init=False, repr=False, compare=False)
    # how much more each feature weighs for an intent than for the others, same shape
    _contrast: FloatArray = field(init=False, repr=False, compare=False)
    _idf: FloatArray = field(init=False, repr=False, compare=False)  # of words, then chars

    def __post_init__(self) -> None:
        others = (self.coef.sum(axis=0) - self.coef) / max(len(self.intents) - 1, 1)
        object.__setattr__(self, "_weights", np.ascontiguousarray(self.coef.T))
        idf = np.concatenate([self.words.idf, self.chars.idf, np.zeros(len(CUE_NAMES))])
        object.__setattr__(self, "_idf", idf)
        object.__setattr__(self, "_contrast", np.ascontiguousarray((self.coef - others).T))

    @property
    def width(self) -> int:
        return len(self.words.index) + len(self.chars.index) + len(CUE_NAMES)

    def classify(self, mail: MailText) -> Triage:
        return self.classify_many([mail])[0]

    def classify_many(self, mails: Sequence[MailText], evidence: bool = True) -> list[Triage]:
        """The batch's features weighed together: a few array operations for the whole batch
        instead of a few for each mail. `evidence=False` when nobody reads it (the processor)."""
        if not mails:
            return []
        docs = [document(mail) for mail in mails]
        rows, columns, values = self._features(docs)
        pulled = self._weights[columns] * values[:, None]
        sums: FloatArray = np.stack(
            [np.bincount(rows, pulled[:, k], len(docs)) for k in range(len(self.intents))],
            axis=1,
        )
        logits = (sums + self.intercept) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        bounds = np.searchsorted(rows, np.arange(len(docs) + 1))
        orders = np.argsort(-probabilities, axis=1).tolist()
        listed = probabilities.tolist()
        names = self.intents
        results = []
        for i, doc in enumerate(docs):
            order, p = orders[i], listed[i]
            shown: tuple[str, ...] = ()
            if evidence:
                row = slice(bounds[i], bounds[i + 1])
                shown = self._evidence(doc, (columns[row], values[row]), order[0])
            intents = tuple((names[k], p[k]) for k in order)
            results.append(Triage(detect_language(doc), intents, shown))
        return results

    def _features(self, docs: list[str]) -> tuple[IntArray, IntArray, FloatArray]:
        """(row, column, value) of every feature of the batch, by row then column: TF-IDF of
        words and of character n-grams, each scaled to length 1 per mail, then the cues."""
        width, words = self.width, len(self.words.index)
        keys = []
        for i, doc in enumerate(docs):
            base = i * width
            keys.append(np.array(self.words.columns(word_terms(doc)), dtype=np.int64) + base)
            keys.append(np.array(self.chars.char_columns(doc), dtype=np.int64) + base + words)
        unique, counts = np.unique(np.concatenate(keys), return_counts=True)
        rows, columns = np.divmod(unique, width)
        values = (1.0 + np.log(counts)) * self._idf[columns]
        groups = rows * 2 + (columns >= words)
        norms = np.sqrt(np.bincount(groups, values * values, 2 * len(docs)))
        values /= norms[groups]
        cues = np.array([cue_vector(doc) for doc in docs])
        cue_rows, cue_index = np.nonzero(cues)
        first_cue = words + len(self.chars.index)
        all_rows = np.concatenate([rows, cue_rows])
        order = np.argsort(all_rows, kind="stable")
        return (
            all_rows[order],
            np.concatenate([columns, cue_index + first_cue])[order],
            np.concatenate([values, cues[cue_rows, cue_index]])[order],
        )

    def _evidence(self, doc: str, row: tuple[IntArray, FloatArray], top: int) -> tuple[str, ...]:
        """The words, word pairs and cues that pushed most towards the top intent, against the
        mean of the others. A character n-gram is shown as the word of the mail it is part of."""
        columns, values = row
        pull = values * self._contrast[columns, top]
        strongest = np.argsort(-pull)[:16]
        words = word_tokens(doc)
        weight: dict[str, float] = {}
        for i in strongest:
            if pull[i] <= 0:
                break
            shown = self._shown(int(columns[i]), words)
            weight[shown] = weight.get(shown, 0.0) + float(pull[i])
        ranked = sorted(weight, key=weight.__getitem__, reverse=True)
        return tuple(name for name in ranked if name)[:6]

    def _shown(self, column: int, words: list[str]) -> str:
        name = self._feature_names()[column]
        first_char, first_cue = len(self.words.index), len(self.words.index) + len(self.chars.index)
        if not first_char <= column < first_cue:
            return name
        gram = name.strip()
        return next((w for w in words if gram in w), gram)

    def _feature_names(self) -> list[str]:
        if not self._names:
            names = [""] * self.width
            for term, i in self.words.index.items():
                names[i] = term
            offset = len(self.words.index)
            for term, i in self.chars.index.items():
                names[offset + i] = term
            for i, cue in enumerate(CUE_NAMES):
                names[offset + len(self.chars.index) + i] = f"[{cue}]"
            self._names.extend(names)
        return self._names

    # --- plain arrays, for a cache that holds no pickled code ---

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "intents": np.array(self.intents),
            "word_terms": np.array(sorted(self.words.index, key=self.words.index.__getitem__)),
            "word_idf": self.words.idf,
            "char_terms": np.array(sorted(self.chars.index, key=self.chars.index.__getitem__)),
            "char_idf": self.chars.idf,
            "coef": self.coef,
            "intercept": self.intercept,
            "temperature": np.array([self.temperature]),
            "cues": np.array(CUE_NAMES),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> Model:
        if tuple(str(c) for c in arrays["cues"]) != CUE_NAMES:
            raise ValueError("the model was trained with other cues")
        return cls(
            intents=tuple(str(i) for i in arrays["intents"]),
            words=Vocabulary(_index(arrays["word_terms"]), arrays["word_idf"]),
            chars=Vocabulary(_index(arrays["char_terms"]), arrays["char_idf"]),
            coef=arrays["coef"],
            intercept=arrays["intercept"],
            temperature=float(arrays["temperature"][0]),
        )


def _index(terms: npt.NDArray[Any]) -> dict[str, int]:
    return {str(term): i for i, term in enumerate(terms.tolist())}


# --- the labelled corpus -------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    mail: MailText
    intent: str | None  # None where a line only has an expected route
    language: str = ""
    expect: str | None = None  # escalate | sales | baseline
    line: int = 0


EXPECTATIONS = ("escalate", "sales", "baseline")


def read_examples(lines: Iterable[str]) -> list[Example]:
    """Lines of JSON (`subject`, `text` or `body`, `intent` and/or `expect`, `language`); the
    text is read as the customer sent it: quoted history off, forwarded content kept apart.
    ValueError names the line and what is wrong."""
    examples = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            examples.append(_example(json.loads(line), number))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return examples


def _example(data: Any, number: int) -> Example:
    if not isinstance(data, dict):
        raise ValueError("must be a JSON object")
    body = data.get("text", data.get("body"))
    if not isinstance(body, str):
        raise ValueError('needs "text" or "body" as a string')
    intent, expect = data.get("intent"), data.get("expect")
    if intent is not None and intent not in INTENTS:
        raise ValueError(f"intent must be one of {', '.join(INTENTS)}, got {intent!r}")
    if expect is not None and expect not in EXPECTATIONS:
        raise ValueError(f"expect must be one of {', '.join(EXPECTATIONS)}, got {expect!r}")
    if intent is None and expect is None:
        raise ValueError('needs "intent" or "expect"')
    subject = str(data.get("subject") or "")
    forwarded = data.get("forwarded_text")
    mail = mail_parts(subject, body)
    if isinstance(forwarded, str) and forwarded:
        mail = MailText(mail.subject, mail.text, forwarded)
    return Example(mail, intent, str(data.get("language") or ""), expect, number)


# --- learning (scikit-learn, imported only here) ------------------------------------------------

DEFAULT_C = 50.0  # weak regularisation: the corpus is small but clean


def train(examples: Sequence[Example], c: float = DEFAULT_C, temperature: float = 1.0) -> Model:
    """Fit the vectorizers and the logistic regression on labelled examples."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    labelled = [e for e in examples if e.intent is not None]
    docs = [document(e.mail) for e in labelled]
    words = TfidfVectorizer(
        analyzer="word",
        token_pattern=WORD_PATTERN,
        ngram_range=WORD_NGRAMS,
        lowercase=False,
        sublinear_tf=True,
        min_df=2,
        max_df=0.5,  # words in half the mails weigh nothing: "we", "de", "bitte"
        dtype=np.float64,
    )
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=CHAR_NGRAMS,
        lowercase=False,
        sublinear_tf=True,
        min_df=2,
        dtype=np.float64,
    )
    cues = csr_matrix(np.array([cue_vector(doc) for doc in docs]))
    matrix = hstack([words.fit_transform(docs), chars.fit_transform(docs), cues]).tocsr()
    model = LogisticRegression(C=c, solver="newton-cg", max_iter=300, class_weight="balanced")
    model.fit(matrix, [e.intent for e in labelled])
    order = [list(model.classes_).index(intent) for intent in INTENTS if intent in model.classes_]
    return Model(
        intents=tuple(str(model.classes_[k]) for k in order),
        words=Vocabulary(_fitted_index(words), np.asarray(words.idf_, dtype=np.float64)),
        chars=Vocabulary(_fitted_index(chars), np.asarray(chars.idf_, dtype=np.float64)),
        coef=np.asarray(model.coef_[order], dtype=np.float64),
        intercept=np.asarray(model.intercept_[order], dtype=np.float64),
        temperature=temperature,
    )


def _fitted_index(vectorizer: Any) -> dict[str, int]:
    return {str(term): int(i) for term, i in vectorizer.vocabulary_.items()}
