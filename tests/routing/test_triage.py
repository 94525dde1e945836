"""routing/triage*.py: what triage reads of a mail (triage_text), its TF-IDF against
scikit-learn's (triage_features), the cues (triage_cues), and the model's arrays, batches,
language and evidence (triage). Small hand-made data; the corpus has its own test."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from routing.intents import INTENTS, MailText
from routing.triage import Example, Model, read_examples, train
from routing.triage_cues import CUE_NAMES, cue_vector
from routing.triage_features import (
    CHAR_NGRAMS,
    WORD_NGRAMS,
    WORD_PATTERN,
    Vocabulary,
    char_terms,
    word_terms,
)
from routing.triage_text import (
    detect_language,
    document,
    forwarded_part,
    mail_parts,
    normalized,
    request_text,
)

DOCS = [
    "teams is down for everyone since 9, error 503",
    "netwerkstoring bij microsoft, niemand kan inloggen",
    "bitte 2 lizenzen zusätzlich, danke",
    "wie richte ich eine abwesenheitsnotiz ein?",
    "licence error 5.1.90 for one user a a",
    "x",
]


def _sklearn(analyzer: str) -> TfidfVectorizer:
    if analyzer == "word":
        return TfidfVectorizer(
            analyzer="word",
            token_pattern=WORD_PATTERN,
            ngram_range=WORD_NGRAMS,
            lowercase=False,
            sublinear_tf=True,
        )
    return TfidfVectorizer(
        analyzer="char_wb", ngram_range=CHAR_NGRAMS, lowercase=False, sublinear_tf=True
    )


@pytest.mark.parametrize(("analyzer", "terms"), [("word", word_terms), ("char_wb", char_terms)])
def test_terms_are_scikit_learns(analyzer: str, terms: object) -> None:
    build = _sklearn(analyzer).build_analyzer()
    for doc in DOCS + ["  two  spaces\tand\na b"]:
        assert Counter(terms(doc)) == Counter(build(doc)), doc  # type: ignore[operator]


@pytest.mark.parametrize(("analyzer", "terms"), [("word", word_terms), ("char_wb", char_terms)])
def test_weights_are_scikit_learns_tfidf(analyzer: str, terms: object) -> None:
    vectorizer = _sklearn(analyzer).fit(DOCS)
    vocabulary = Vocabulary(dict(vectorizer.vocabulary_), vectorizer.idf_)
    for doc in ["teams is down, down, down for everyone", "geen lizenzen", "niemand"]:
        expected = vectorizer.transform([doc]).toarray()[0]
        columns, values = vocabulary.weights(terms(doc))  # type: ignore[operator]
        got = np.zeros_like(expected)
        got[columns] = values
        assert np.allclose(got, expected), doc


def _example(subject: str, text: str, intent: str) -> Example:
    return Example(MailText(subject, text), intent)


TRAINING = [
    _example("Teams down", "Teams is down for everyone, nobody can log in", "unavailable"),
    _example("Outlook weg", "Outlook werkt bij niemand, alles plat", "unavailable"),
    _example("Exchange Ausfall", "Exchange ist für alle ausgefallen", "unavailable"),
    _example("Add seats", "Please add 2 licences to our subscription", "subscription"),
    _example("Licenties", "Graag 3 extra licenties bestellen", "subscription"),
    _example("Kündigung", "Wir kündigen das Abonnement zum Jahresende", "subscription"),
    _example("Password", "I forgot my password, please reset it", "baseline"),
    _example("Wachtwoord", "Ik ben mijn wachtwoord vergeten", "baseline"),
    _example("Drucker", "Mein Drucker druckt nicht", "baseline"),
]


@pytest.fixture(scope="module")
def model() -> Model:
    return train(TRAINING, c=10.0)


def test_a_batch_is_classified_as_one_at_a_time(model: Model) -> None:
    mails = [e.mail for e in TRAINING] + [MailText("", ""), MailText("Re:", "danke")]

    batch = model.classify_many(mails)

    for result, mail in zip(batch, mails, strict=True):
        alone = model.classify(mail)
        assert [n for n, _ in result.intents] == [n for n, _ in alone.intents]
        assert [p for _, p in result.intents] == pytest.approx([p for _, p in alone.intents])
        assert result.evidence == alone.evidence
    assert model.classify_many([]) == []


def test_probabilities_cover_the_model_intents_and_add_up(model: Model) -> None:
    result = model.classify(MailText("Teams down", "nobody can use Teams"))

    assert {name for name, _ in result.intents} == {"unavailable", "subscription", "baseline"}
    assert sum(p for _, p in result.intents) == pytest.approx(1.0)
    assert [p for _, p in result.intents] == sorted((p for _, p in result.intents), reverse=True)
    assert result.top == "unavailable"
    assert result.confidence == result.intents[0][1]
    assert result.probability("bug") == 0.0


def test_evidence_names_words_of_the_mail_for_the_top_intent(model: Model) -> None:
    result = model.classify(MailText("Graag licenties", "Wij willen 5 extra licenties"))

    assert result.top == "subscription"
    assert result.evidence
    assert any("licenties" in e for e in result.evidence), result.evidence
    shown = normalized("graag licenties wij willen 5 extra licenties")
    assert all(e.startswith("[") or e in shown for e in result.evidence), result.evidence


def test_the_model_survives_its_arrays(model: Model) -> None:
    again = Model.from_arrays({k: np.array(v) for k, v in model.to_arrays().items()})
    mail = MailText("Teams weg", "Teams geht bei niemandem")

    assert again.classify(mail) == model.classify(mail)


def test_arrays_of_other_cues_are_refused(model: Model) -> None:
    arrays = model.to_arrays()
    arrays["cues"] = np.array(["many users"])

    with pytest.raises(ValueError, match="other cues"):
        Model.from_arrays(arrays)


def test_json_of_the_result(model: Model) -> None:
    data = model.classify(MailText("Add seats", "2 more licences please")).as_json()

    assert set(data) == {"language", "intents", "top", "evidence"}
    assert data["top"] == "subscription"
    assert data["language"] == "en"
    assert set(data["intents"]) == {"unavailable", "subscription", "baseline"}


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Onze mail werkt niet meer, kunnen jullie kijken?", "nl"),
        ("Our mail is not working, can you have a look?", "en"),
        ("Unsere Mails gehen nicht mehr, können Sie bitte schauen?", "de"),
        ("Nos mails ne fonctionnent plus, pouvez-vous regarder ?", "fr"),
        ("Teams down", "en"),  # nothing to tell by: English
    ],
)
def test_language(text: str, language: str) -> None:
    assert detect_language(normalized(text)) == language


def test_quoted_history_is_not_read() -> None:
    body = (
        "Can you add two licences?\n\n"
        "On Tue, 4 Nov 2025 at 10:12, Jan <jan@fabrikam.example> wrote:\n"
        "> Teams is down for everyone\n"
    )

    mail = mail_parts("Re: Teams", body)

    assert mail.text == "Can you add two licences?"
    assert mail.forwarded_text == ""
    assert "down" not in document(mail)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        (
            "Fwd: storing",
            "See below.\n\n---------- Forwarded message ---------\nFrom: Jan <jan@f.example>\n"
            "Date: Tue, 4 Nov 2025 at 10:12\nSubject: storing\nTo: it@f.example\n\n"
            "Nobody can reach SharePoint.\n",
        ),
        (
            "WG: storing",
            "Siehe unten.\n\n________________________________\nVon: Jan <jan@f.example>\n"
            "Gesendet: Dienstag, 4. November 2025 10:12\nAn: it@f.example\nBetreff: storing\n\n"
            "Nobody can reach SharePoint.\n",
        ),
    ],
)
def test_a_forwarded_mail_is_read_apart(subject: str, body: str) -> None:
    assert forwarded_part(subject, body) == "Nobody can reach SharePoint."


def test_an_outlook_reply_block_is_no_forward() -> None:
    body = "Thanks!\n\nFrom: Jan <jan@f.example>\nSent: Tuesday 10:12\nTo: x\nSubject: y\n\nold"

    assert forwarded_part("RE: y", body) == ""


def test_greeting_sign_off_and_what_follows_are_not_read() -> None:
    text = (
        "Hoi,\n\nOutlook doet het niet bij iedereen.\n\nMet vriendelijke groet,\nJan\n"
        "Fabrikam BV\n\nDit bericht is vertrouwelijk."
    )

    assert request_text(text) == "Outlook doet het niet bij iedereen."
    assert request_text("Thanks,\nJan") == "Thanks,\nJan"  # nothing before it: kept


def test_cues() -> None:
    found = cue_vector(normalized("Iedereen, ook andere bedrijven"))
    names = [name for name, v in zip(CUE_NAMES, found, strict=True) if v]

    assert names == ["many users", "other companies"]


def test_reading_examples() -> None:
    lines = [
        json.dumps({"subject": "s", "text": "Teams down", "intent": "unavailable"}),
        "",
        json.dumps({"subject": "s", "body": "add seats", "expect": "sales", "language": "en"}),
    ]

    first, second = read_examples(lines)

    assert (first.intent, first.expect, first.line) == ("unavailable", None, 1)
    assert (second.intent, second.expect, second.language, second.line) == (None, "sales", "en", 3)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[1]", "must be a JSON object"),
        ('{"subject": "s", "intent": "bug"}', 'needs "text" or "body"'),
        ('{"text": "t"}', 'needs "intent" or "expect"'),
        ('{"text": "t", "intent": "outage"}', "intent must be one of"),
        ('{"text": "t", "expect": "microsoft"}', "expect must be one of"),
        ("{oops", "line 1"),
    ],
)
def test_bad_lines_are_named(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        read_examples([line])


def test_intents_are_the_interfaces() -> None:
    assert INTENTS == (
        "unavailable",
        "undocumented_fault",
        "bug",
        "network_outage",
        "regional",
        "subscription",
        "baseline",
    )
