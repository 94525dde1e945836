"""Triage: the intent of a customer's mail, with a probability for each, its language and why.

The seven intents are the CSP partner's one decision per message (DESIGN §1): five categories that
go upstream (`UPSTREAM`), `subscription` (sales) and `baseline` (the partner's own helpdesk).

How it reads a mail
-------------------
The classifier reads the subject, the new text and the forwarded text (a colleague's problem the
customer passes on), never the quoted history: `mail_parts` turns a body as a customer wrote it
into those parts the way the parser does, so the labelled corpus is read like live mail.

The features are TF-IDF weights of words and word pairs, TF-IDF weights of character n-grams
within words (2 to 5 characters: a Dutch compound such as "netwerkstoring" shares "stor" and
"netw" with its parts, and a typo keeps most of its n-grams), and a few cues that carry the
partner's meaning whatever the language (`CUES`: many users or "only me", other companies too,
the customer's own network, a past incident, an error code). A multinomial logistic regression
weighs them into probabilities.

Learning is scikit-learn's (`train`, used when the corpus changes); reading a mail is not: the
fitted vocabularies, IDF weights and coefficients become a `Model` of plain arrays, and
`Model.classify_many` computes the same TF-IDF (`tests/routing/test_triage.py` checks it equals
scikit-learn's) and the same probabilities with numpy alone. Importing scikit-learn costs about
a second of CPU, which the daemon need not spend at each start; a batch of mails is classified with
one matrix product.

Pure: no I/O (the caller reads the corpus and keeps the model), nothing from `gateway/`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from parsers.quote_markers import is_embedded_marker, is_header, is_signature
from parsers.quotes import new_text
from routing.intents import INTENTS, LANGUAGES, MailText, Triage

# Only the start of a long mail is read: the request is at the top, and the cost of a mail
# grows with its length.
MAX_CHARS = 3000
MAX_FORWARDED_CHARS = 2000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# --- what is read ------------------------------------------------------------------------------


_FORWARD_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:fwd?|fw|wg|tr|doorst|weiterleitung)\s*:", re.I
)


def mail_parts(subject: str, body: str) -> MailText:
    """A body as the customer sent it → what triage reads, as the parser would split it."""
    return MailText(subject, new_text(body), forwarded_part(subject, body))


def forwarded_part(subject: str, body: str) -> str:
    """The text of a forwarded mail in `body`: what follows a forward marker ("---------- Forwarded
    message ---------", "Begin forwarded message:") or, in a mail whose subject says it is a
    forward ("FW:", "WG:", "TR:", "Doorst:"), an Outlook header block; without its headers and
    its own quoted history. Empty when the mail forwards nothing."""
    lines = body.replace("\r\n", "\n").split("\n")
    forward_subject = bool(_FORWARD_SUBJECT.match(subject))
    for i, line in enumerate(lines):
        marker = is_embedded_marker(line) and _is_forward_marker(line)
        outlook_block = forward_subject and is_header(line) and i + 1 < len(lines)
        if marker or (outlook_block and is_header(lines[i + 1])):
            rest = lines[i + 1 :] if marker else lines[i:]
            while rest and (not rest[0].strip() or is_header(rest[0])):
                rest = rest[1:]
            return new_text("\n".join(rest))[:MAX_FORWARDED_CHARS]
    return ""


_FORWARD_WORDS = re.compile(
    r"forward|doorgestuurd|weitergeleitet|transféré|réexpédié|reenviado|inoltrato", re.I
)


def _is_forward_marker(line: str) -> bool:
    return bool(_FORWARD_WORDS.search(line))


def normalized(text: str) -> str:
    """Lower case without accents: "Störung", "storung" and "STÖRUNG" are one word to triage."""
    text = text.lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def document(mail: MailText) -> str:
    """The one text the vectorizers read: subject, new text, forwarded text."""
    parts = [mail.subject, request_text(mail.text[:MAX_CHARS])]
    if mail.forwarded_text:
        parts.append(request_text(mail.forwarded_text[:MAX_FORWARDED_CHARS]))
    return normalized("\n".join(parts))


# A greeting alone on its line, and the sign-off after which a mail has only its writer's name,
# title, company, phone and legal disclaimer: words that say who writes, not what is wanted.
_GREETING = re.compile(
    r"^\s*(?:hi|hoi|hallo|hello|hey|beste|dag|goede(?:morgen|middag|navond)|guten (?:tag|morgen)|"
    r"sehr geehrte.*|liebe.*|moin|servus|bonjour|bonsoir|salut|madame|dear .*|good (?:morning|"
    r"afternoon)|afternoon|morning)\b[^.!?]{0,40}[,!]?\s*$",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^\s*(?:(?:met )?(?:vriendelijke |hartelijke )?groet(?:en|jes)?|mvg|bvd|alvast bedankt|"
    r"dank(?:je|u)? (?:en groet|wel)|(?:kind |best |warm )?regards|best(?: wishes)?|cheers|"
    r"thanks(?: in advance| again)?|thank you|many thanks.*|(?:mit )?(?:freundlichen |besten |"
    r"viele |beste |liebe )?gr(?:u|ü)(?:ss|ß)en?|vg|lg|mfg|danke(?: und gruß| und gruss)?|"
    r"(?:bien )?cordialement|merci(?: d'avance| beaucoup)?|bonne journee|bonne journée|"
    r"salutations|bien a vous|bien à vous)[\s,.!]*$",
    re.IGNORECASE,
)


def request_text(text: str) -> str:
    """The text without its greeting line, sign-off and what follows it, and phone lines."""
    kept: list[str] = []
    for line in text.split("\n"):
        if _SIGN_OFF.match(line) and any(k.strip() for k in kept):
            break
        if is_signature(line) or (not kept and _GREETING.match(line)):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


# --- cues: the partner's meaning, in the four languages -------------------------------------

# Each cue is one feature, 1 when its pattern occurs in the normalized document. They generalise
# where the corpus is thin: "alle 45 medewerkers" and "toute l'entreprise" both say "many".
CUES: dict[str, str] = {
    "many users": (
        r"\b(?:everyone|everybody|nobody|no one|none of (?:our|the)|all (?:our |the )?"
        r"(?:users|staff|employees|colleagues|accounts|mailboxes|sites|admins)|whole (?:company|"
        r"office|organi[sz]ation|tenant|team)|entire (?:company|organi[sz]ation|tenant)|"
        r"company-wide|"
        r"iedereen|niemand|alle (?:gebruikers|medewerkers|collega'?s|accounts|mailboxen|"
        r"vestigingen|sites|beheerders)|hele (?:bedrijf|organisatie|kantoor|tenant)|"
        r"alle[nm]? (?:benutzer|mitarbeiter|kollegen|konten|postfacher|standorte|admins)|"
        r"niemand|keine?r? (?:von uns|kollege|mitarbeiter|benutzer)|bei allen|ganze firma|"
        r"tout le monde|personne ne|aucun (?:utilisateur|collaborateur|employe)|tous (?:les|nos) "
        r"(?:utilisateurs|collaborateurs|employes|comptes|sites|administrateurs)|toute "
        r"l'(?:entreprise|organisation|equipe)|l'ensemble des)\b"
    ),
    "only me": (
        r"\b(?:only me|just me|only i\b|only for me|nobody else|no one else|colleagues? (?:are|is) "
        r"fine|everyone else (?:is|can|has)|the rest (?:is|are) fine|my (?:laptop|pc|phone|"
        r"computer|iphone)|alleen (?:ik|bij mij|mijn)|bij mij|mijn (?:laptop|pc|telefoon|computer)|"
        r"bij de rest|de rest (?:werkt|heeft)|nur (?:ich|bei mir)|bei mir|mein(?:em)? (?:laptop|pc|"
        r"handy|rechner)|alle anderen (?:konnen|haben|arbeiten)|seulement moi|que moi|chez moi|"
        r"mon (?:pc|ordinateur|portable|telephone)|les autres (?:fonctionnent|vont bien|n'ont))\b"
    ),
    "other companies": (
        r"\b(?:other (?:companies|firms|businesses|tenants|organisations|organizations|customers)|"
        r"our (?:clients|customers) (?:are|report)|downdetector|peer compan|next door|"
        r"andere (?:bedrijven|organisaties|tenants|klanten|firmen|unternehmen|mandanten|kunden)|"
        r"ook bij (?:andere|de buren|klanten)|de buren|nachbar|befreundete|"
        r"autres (?:entreprises|societes|locataires|clients|organisations)|d'a cote)"
    ),
    "own network": (
        r"\b(?:router|modem|(?:the|de|der|le) switch|wi-?fi|wlan|access point|"
        r"our (?:internet|isp|line|provider)|(?:internet|isp) (?:line|provider)|glasvezel|"
        r"onze (?:internet|provider|lijn)|internetverbinding (?:op kantoor|ligt)|"
        r"unsere? (?:internetleitung|leitung|provider)|leitungsschaden|box internet|"
        r"notre (?:ligne|box|fournisseur)|panne de (?:notre|la) ligne)"
    ),
    "past incident": (
        r"\b(?:post-incident|root cause|incident ?report|incidentrapport|abschlussbericht|"
        r"rapport (?:post-)?incident|was (?:it|the \w+) (?:fixed|resolved)|(?:fully|now) resolved|"
        r"(?:nu|weer) (?:helemaal )?opgelost|vollstandig behoben|(?:completement|bien) resolu|"
        r"(?:last week'?s?|yesterday'?s|vorige week|letzte woche|semaine derniere|"
        r"mardi dernier|last tuesday|vorige week dinsdag|letzten dienstag) "
        r"(?:\w+ )?(?:outage|storing|ausfall|storung|panne|incident|lag|war|etait))"
    ),
    "error code": (
        r"(?:\baadsts\d+|\b0x[0-9a-f]{6,}|\b[45]\.\d\.\d{1,3}\b|correlation id|"
        r"(?:http|error|fout|fehler|erreur|code)\W{0,3}[45]\d\d\b|\b[45]\d\d (?:service "
        r"unavailable|internal server error|bad gateway|gateway timeout))"
    ),
    "our network fine": (
        r"(?:internet|line|leitung|lijn|verbinding|connexion|ligne|netwerk|network|netz|router|"
        r"reseau|box)\W+(?:\w+\W+){0,3}?(?:is fine|works|is ok|werkt|doet het|in orde|prima|"
        r"in ordnung|funktioniert|geht|laeuft|lauft|fonctionne|marche|va bien|est ok)"
    ),
    "failure": (
        r"\b(?:down|outage|not working|doesn'?t work|won'?t (?:load|open|start)|unavailable|"
        r"unreachable|can'?t (?:reach|access|connect|open|sign|log)|cannot|offline|dead|"
        r"storing|plat|eruit|werkt niet|doet het niet|niet (?:bereikbaar|beschikbaar|te openen)|"
        r"onbereikbaar|kan niet|lukt niet|ausfall|ausgefallen|storung|geht nicht|nicht "
        r"(?:erreichbar|verfugbar|moglich)|funktioniert nicht|weg\b|panne|en panne|hors service|"
        r"inaccessible|indisponible|ne (?:marche|fonctionne|repond) plus|impossible)\b"
    ),
    "product": (
        r"\b(?:teams|outlook|owa|exchange|sharepoint|onedrive|intune|entra|azure|dynamics|"
        r"power ?bi|power automate|planner|bookings|forms|m365|microsoft 365|office 365|o365|"
        r"defender|purview|copilot|word|excel|visio)\b"
    ),
    "since update": (
        r"\b(?:since|after) (?:the |last |this |a )?(?:\w+ )?update|(?:na|sinds) de (?:\w+ )?"
        r"update|(?:seit|nach) dem (?:\w+ )?update|depuis la (?:derniere )?mise a jour|apres la "
        r"(?:derniere )?mise a jour|\bbuild \d{4}|versi(?:e|on) \d{4}"
    ),
    "documented": (
        r"\b(?:documentation|docs?\b|documented|service description|servicebeschrijving|"
        r"productbeschrijving|dienstbeschreibung|leistungsbeschreibung|produktbeschreibung|"
        r"description de (?:service|produit)|microsoft learn|learn\.microsoft|laut microsoft|"
        r"volgens microsoft|according to microsoft|selon microsoft|d'apres microsoft|"
        r"microsoft (?:says|states|schrijft|schreibt|indique))"
    ),
    "region": (
        r"\b(?:regions?|regional|regionaal|regionale?s?|regio|datacent(?:er|re|rum)s?|"
        r"rechenzent(?:rum|ren)|west europe|north europe|data ?(?:location|boundary)|"
        r"datalocatie|datenstandort|emplacement de donnees|germany west central|uk south|"
        r"france central|sweden central)\b"
    ),
    "money": (
        r"(?:\b(?:price|prices|pricing|cost|costs|quote|invoice|invoices|billed|credit note|"
        r"prijs|prijzen|kosten|offerte|factuur|creditnota|preis|preise|kostet|"
        r"angebot|rechnung|gutschrift|prix|tarif|tarifs|devis|facture|avoir|coute)\b|\beur\b|€)"
    ),
}
_CUE_PATTERNS = tuple(re.compile(pattern) for pattern in CUES.values())


# Pairs of cues that mean more together than apart: many users and a failure is an outage of
# a service, one user and a failure is a device; a linear model cannot multiply them itself.
PAIRS = (("many users", "failure"), ("only me", "failure"), ("product", "failure"))
_PAIR_INDEX = tuple((list(CUES).index(a), list(CUES).index(b)) for a, b in PAIRS)
CUE_NAMES = (*CUES, *(f"{a} + {b}" for a, b in PAIRS))


# A cue weighs like a strong word: TF-IDF rows are scaled to length 1, so one word of a short mail
# is worth about 0.3 (chosen by cross-validation on the training part).
CUE_WEIGHT = 0.3


def cue_vector(doc: str) -> list[float]:
    found = [CUE_WEIGHT if pattern.search(doc) else 0.0 for pattern in _CUE_PATTERNS]
    return found + [min(found[a], found[b]) for a, b in _PAIR_INDEX]


# --- language ------------------------------------------------------------------------------------

# The commonest short words of each language. Counting them tells the four languages apart in
# a few microseconds per mail, which a general detector (lingua, 200 MB of models loaded) does
# not improve on for these four; an unknown language is the one with most hits anyway.
_STOP_WORDS = {
    "nl": "de het een en van ik je we wij niet is op dat die met voor zijn er ook maar bij naar "
    "kan kunnen hebben heb wordt werd geen nog al als dan om uit hoe wat mijn onze ons jullie "
    "graag bedankt groet goedemorgen hoi beste deze sinds meer doet werkt zien",
    "en": "the a an and of to in is it we you i not on that for with our are be this have has "
    "can can't cannot from at all but no since please thanks hi hello would could my your "
    "there they what how any does doesn't working",
    "de": "der die das und ist nicht ich wir sie es ein eine mit auf fur von zu den dem bei "
    "auch kann konnen haben hat seit bitte danke hallo gruß grusse uns unser unsere keine "
    "noch wie was mehr wird werden geht funktioniert",
    "fr": "le la les un une et est de des du en pas je nous vous il elle que qui pour avec sur "
    "dans ne plus au aux depuis merci bonjour cordialement notre nos ce cette sont ont peut "
    "pouvez fonctionne tous",
}
_LANGUAGE_WORDS = {
    lang: frozenset(normalized(words).split()) for lang, words in _STOP_WORDS.items()
}
_WORDS = re.compile(r"[a-z']+")


def detect_language(doc: str) -> str:
    """nl, en, de or fr: the language whose common words occur most (English on a tie)."""
    counts = Counter(_WORDS.findall(doc))
    scores = {
        lang: sum(n for word, n in counts.items() if word in words)
        for lang, words in _LANGUAGE_WORDS.items()
    }
    best = max(LANGUAGES, key=lambda lang: (scores[lang], lang == "en"))
    return best


# --- the vectorizers, as scikit-learn's TfidfVectorizer computes them --------------------------

# Words of two or more letters or digits, and "5.1.90"-style status codes as one word.
WORD_PATTERN = r"(?u)\b\d+(?:\.\d+)+\b|\b\w\w+\b"
_WORD = re.compile(WORD_PATTERN)
_SPACES = re.compile(r"\s\s+")
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)


def word_terms(doc: str) -> list[str]:
    """scikit-learn's "word" analyzer with token_pattern WORD_PATTERN and ngram_range (1, 2)."""
    tokens = _WORD.findall(doc)
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
        index = self.index
        return self._weighted([index[t] for t in terms if t in index])

    def char_weights(self, doc: str) -> tuple[IntArray, FloatArray]:
        """`weights(char_terms(doc))`, the n-grams of each word looked up once."""
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
        return self._weighted(columns)

    def _weighted(self, columns: list[int]) -> tuple[IntArray, FloatArray]:
        unique, counts = np.unique(np.array(columns, dtype=np.int64), return_counts=True)
        values = (1.0 + np.log(counts)) * self.idf[unique]
        norm = float(np.sqrt(values @ values)) or 1.0
        return unique, values / norm


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

    def __post_init__(self) -> None:
        others = (self.coef.sum(axis=0) - self.coef) / max(len(self.intents) - 1, 1)
        object.__setattr__(self, "_weights", np.ascontiguousarray(self.coef.T))
        object.__setattr__(self, "_contrast", np.ascontiguousarray((self.coef - others).T))

    @property
    def width(self) -> int:
        return len(self.words.index) + len(self.chars.index) + len(CUE_NAMES)

    def classify(self, mail: MailText) -> Triage:
        return self.classify_many([mail])[0]

    def classify_many(self, mails: Sequence[MailText]) -> list[Triage]:
        """The features of the batch weighed in one pass over all of them."""
        if not mails:
            return []
        docs = [document(mail) for mail in mails]
        rows = [self._features(doc) for doc in docs]
        columns = np.concatenate([c for c, _ in rows])
        values = np.concatenate([v for _, v in rows])
        owners = np.repeat(np.arange(len(rows)), [len(c) for c, _ in rows])
        pulled = self._weights[columns] * values[:, None]
        sums: FloatArray = np.stack(
            [np.bincount(owners, pulled[:, k], len(rows)) for k in range(len(self.intents))],
            axis=1,
        )
        logits = (sums + self.intercept) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return [
            self._result(doc, row, probabilities[i])
            for i, (doc, row) in enumerate(zip(docs, rows, strict=True))
        ]

    def _features(self, doc: str) -> tuple[IntArray, FloatArray]:
        word_columns, word_values = self.words.weights(word_terms(doc))
        char_columns, char_values = self.chars.char_weights(doc)
        offset = len(self.words.index)
        cue_offset = offset + len(self.chars.index)
        cues = cue_vector(doc)
        cue_columns = np.array([cue_offset + i for i, v in enumerate(cues) if v], dtype=np.int64)
        cue_values = np.array([v for v in cues if v], dtype=np.float64)
        return (
            np.concatenate([word_columns, char_columns + offset, cue_columns]),
            np.concatenate([word_values, char_values, cue_values]),
        )

    def _result(
        self, doc: str, row: tuple[IntArray, FloatArray], probabilities: FloatArray
    ) -> Triage:
        order = np.argsort(-probabilities)
        intents = tuple((self.intents[k], float(probabilities[k])) for k in order)
        return Triage(detect_language(doc), intents, self._evidence(doc, row, int(order[0])))

    def _evidence(self, doc: str, row: tuple[IntArray, FloatArray], top: int) -> tuple[str, ...]:
        """The words, word pairs and cues that pushed most towards the top intent, against the
        mean of the others. A character n-gram is shown as the word of the mail it is part of."""
        columns, values = row
        pull = values * self._contrast[columns, top]
        strongest = np.argsort(-pull)[:16]
        words = _WORD.findall(doc)
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
    model = LogisticRegression(C=c, solver="saga", tol=1e-3, max_iter=3000, class_weight="balanced")
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
