"""Triage's vectorizers: TF-IDF of words and of character n-grams, as scikit-learn computes them.

`word_terms` and `char_terms` are scikit-learn's "word" and "char_wb" analyzers with the settings
training uses (`WORD_PATTERN`, `WORD_NGRAMS`, `CHAR_NGRAMS`); a `Vocabulary` is a fitted
TfidfVectorizer as plain arrays (sublinear term frequency, smooth IDF, L2 norm), so reading a mail
needs numpy alone. `tests/routing/test_triage.py` checks both against scikit-learn's.

Apart from the model (routing/triage.py) because this is the part that must stay equal to
scikit-learn's, whatever the model does with it.

Pure: no I/O, nothing from `gateway/`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Words of two or more letters or digits, and "5.1.90"-style status codes as one word.
WORD_PATTERN = r"(?u)\b\d+(?:\.\d+)+\b|\b\w\w+\b"
_WORD = re.compile(WORD_PATTERN)
_SPACES = re.compile(r"\s\s+")
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)


def word_tokens(doc: str) -> list[str]:
    """The words of `doc` as the word vectorizer splits it (WORD_PATTERN)."""
    return _WORD.findall(doc)


def word_terms(doc: str) -> list[str]:
    """scikit-learn's "word" analyzer with token_pattern WORD_PATTERN and ngram_range (1, 2)."""
    tokens = word_tokens(doc)
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


@lru_cache(maxsize=50_000)
def _char_terms_of_word(word: str) -> tuple[str, ...]:
    padded = f" {word} "
    terms: list[str] = []
    for n in range(CHAR_NGRAMS[0], CHAR_NGRAMS[1] + 1):
        if len(padded) <= n:
            terms.append(padded)  # as scikit-learn: a short word counts once, whole
            break
        terms.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return tuple(terms)


def char_terms(doc: str) -> list[str]:
    """scikit-learn's "char_wb" analyzer with ngram_range CHAR_NGRAMS."""
    terms: list[str] = []
    for word in _SPACES.sub(" ", doc).split():
        terms.extend(_char_terms_of_word(word))
    return terms


@dataclass(frozen=True)
class Vocabulary:
    """A fitted TF-IDF vectorizer: sublinear term frequency, smooth IDF, L2 norm."""

    index: Mapping[str, int]
    idf: FloatArray
    # word -> the columns of its character n-grams: most words of a mail were seen before
    _columns_of_word: dict[str, list[int]] = field(default_factory=dict, repr=False, compare=False)

    def weights(self, terms: Iterable[str]) -> tuple[IntArray, FloatArray]:
        return self._weighted(self.columns(terms))

    def columns(self, terms: Iterable[str]) -> list[int]:
        index = self.index
        return [index[t] for t in terms if t in index]

    def char_columns(self, doc: str) -> list[int]:
        """`columns(char_terms(doc))`, the n-grams of each word looked up once."""
        known = self._columns_of_word
        if len(known) > 100_000:  # bounded: a flood of unique words cannot grow it without end
            known.clear()
        columns: list[int] = []
        for word in _SPACES.sub(" ", doc).split():
            found = known.get(word)
            if found is None:
                index = self.index
                found = known[word] = [index[t] for t in _char_terms_of_word(word) if t in index]
            columns.extend(found)
        return columns

    def _weighted(self, columns: list[int]) -> tuple[IntArray, FloatArray]:
        unique, counts = np.unique(np.array(columns, dtype=np.int64), return_counts=True)
        values = (1.0 + np.log(counts)) * self.idf[unique]
        norm = float(np.sqrt(values @ values)) or 1.0
        return unique, values / norm
