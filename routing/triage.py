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
    forward_subject = bool(_FORWARD_SUBJECT.match(subject))
    if not forward_subject and not _FORWARD_WORDS.search(body):
        return ""  # the common case, told in one pass
    lines = body.replace("\r\n", "\n").split("\n")
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


SHORT_NOTE = 80  # characters: a note on a forward this short says only "see below"


def document(mail: MailText) -> str:
    """The one text the vectorizers read: subject, new text, forwarded text."""
    note = request_text(mail.text[:MAX_CHARS])
    parts = [mail.subject, note]
    if mail.forwarded_text:
        if len(note) < SHORT_NOTE and not any(cue_vector(normalized(note))):
            parts = [mail.subject]  # "see below": the forwarded mail is the request
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
# Each cue is one feature, CUE_WEIGHT when it occurs in the normalized document. They generalise
# where the corpus is thin: "alle 45 medewerkers" and "toute l'entreprise" both say "many".
# Most are phrases, written as alternatives: "(a|b) c?" is "a", "b", "a c", "b c"; a phrase is
# matched as whole words (a word is a run of letters and digits: "can't" is "can t"). Three
# need patterns: they allow words between or match codes.
CUES: dict[str, str] = {
    "many users": (
        "everyone|everybody|nobody|no one|none of (our|the)|all (our|the)? (users|staff|"
        "employees|colleagues|accounts|mailboxes|sites|admins|offices|branches)|whole (company|"
        "office|organisation|organization|tenant|team)|entire (company|organisation|organization|"
        "tenant)|company wide|iedereen|niemand|alle (gebruikers|medewerkers|collega s|collegas|"
        "accounts|mailboxen|vestigingen|sites|beheerders)|hele (bedrijf|organisatie|kantoor|"
        "tenant)|(alle|allen|allem) (benutzer|benutzern|mitarbeiter|mitarbeitern|kollegen|konten|"
        "postfacher|postfachern|standorte|standorten|admins)|niemandem|(keiner|keine|kein) "
        "(von uns|kollege|mitarbeiter|benutzer)|bei allen|ganze firma|tout le monde|personne ne|"
        "personne n|aucun (utilisateur|collaborateur|employe)|tous (les|nos) (utilisateurs|"
        "collaborateurs|employes|comptes|sites|administrateurs)|toute l (entreprise|organisation|"
        "equipe)|l ensemble des"
    ),
    "only me": (
        "only me|just me|only i|only for me|nobody else|no one else|(colleague|colleagues) (are|"
        "is) fine|everyone else (is|can|has)|the rest (is|are) fine|my (laptop|pc|phone|computer|"
        "iphone)|alleen (ik|bij mij|mijn)|bij mij|mijn (laptop|pc|telefoon|computer)|bij de rest|"
        "de rest (werkt|heeft)|nur (ich|bei mir)|bei mir|(mein|meinem) (laptop|pc|handy|rechner)|"
        "alle anderen (konnen|haben|arbeiten)|seulement moi|que moi|chez moi|mon (pc|ordinateur|"
        "portable|telephone)|les autres (fonctionnent|vont bien|n ont)"
    ),
    "other companies": (
        "other (companies|firms|businesses|tenants|organisations|organizations|customers)|our "
        "(clients|customers) (are|report)|downdetector|peer (company|companies)|next door|andere "
        "(bedrijven|organisaties|tenants|klanten|firmen|unternehmen|mandanten|kunden)|ook bij "
        "(andere|de buren|klanten)|de buren|(nachbar|nachbarn|nachbarfirma|nachbarfirmen)|"
        "(befreundete|befreundetes)|autres (entreprises|societes|locataires|clients|"
        "organisations)|d a cote"
    ),
    "own network": (
        "router|modem|(the|de|der|le) switch|wifi|wi fi|wlan|access point|our (internet|isp|line|"
        "provider)|(internet|isp) (line|provider)|glasvezel|onze (internet|provider|lijn)|"
        "internetverbinding (op kantoor|ligt)|(unsere|unser) (internetleitung|leitung|provider)|"
        "leitungsschaden|box internet|notre (ligne|box|fournisseur)|panne de (notre|la) ligne"
    ),
    "past incident": (
        "post incident|root cause|incident report|incidentreport|incidentrapport|"
        "abschlussbericht|rapport (post incident|incident|d incident)|was (it|the outage|the "
        "issue|the storing|that) (fixed|resolved)|(fully|now) resolved|(nu|weer) (helemaal)? "
        "opgelost|vollstandig behoben|(completement|bien) resolu|(last week s|last weeks|"
        "yesterday s|yesterdays|vorige week|letzte woche|semaine derniere|mardi dernier|last "
        "tuesday|letzten dienstag) (outage|storing|ausfall|storung|panne|incident)"
    ),
    "error code": "",  # CUE_PATTERNS
    "our network fine": "",
    "failure": (
        "down|outage|not working|doesn t work|doesnt work|won t (load|open|start)|unavailable|"
        "unreachable|(can t|cant|cannot) (reach|access|connect|open|sign|log)|cannot|offline|dead|"
        "storing|plat|eruit|werkt niet|doet het niet|niet (bereikbaar|beschikbaar|te openen)|"
        "onbereikbaar|kan niet|lukt niet|ausfall|ausgefallen|storung|geht nicht|nicht (erreichbar|"
        "verfugbar|moglich)|funktioniert nicht|weg|panne|hors service|inaccessible|indisponible|"
        "ne (marche|fonctionne|repond) plus|impossible|(nobody|no one|niemand|keiner|personne) "
        "(can|kan|kann|ne peut)|(kan|kann) niemand|can no longer|(kan|kann) (niet|nicht) meer|"
        "kann nicht mehr|ne peut plus|lukt (het )?niet meer|(fails|failed|failing)|mislukt|"
        "schlagt fehl|echoue|geen verbinding|keine verbindung|aucune connexion"
    ),
    "product": (
        "teams|outlook|owa|exchange|sharepoint|onedrive|intune|entra|azure|dynamics|power bi|"
        "powerbi|power automate|planner|bookings|forms|m365|microsoft 365|office 365|o365|defender|"
        "purview|copilot|word|excel|visio"
    ),
    "since update": "",
    "documented": (
        "documentation|doc|docs|documented|service description|servicebeschrijving|"
        "productbeschrijving|dienstbeschreibung|leistungsbeschreibung|produktbeschreibung|"
        "description de (service|produit)|microsoft learn|learn microsoft|(laut|volgens|according "
        "to|selon|d apres) microsoft|microsoft (says|states|schrijft|schreibt|indique)"
    ),
    "region": (
        "region|regions|regional|regionaal|regionale|regionales|regio|(datacenter|datacenters|"
        "datacentre|datacentres|datacentrum)|(rechenzentrum|rechenzentren)|west europe|north "
        "europe|data location|datalocation|data boundary|datalocatie|datenstandort|emplacement "
        "de donnees|germany west central|uk south|france central|sweden central"
    ),
    "money": (
        "price|prices|pricing|cost|costs|quote|invoice|invoices|billed|credit note|prijs|prijzen|"
        "kosten|offerte|factuur|creditnota|preis|preise|kostet|angebot|rechnung|gutschrift|prix|"
        "tarif|tarifs|devis|facture|avoir|coute|eur"
    ),
}
# The cues that phrases cannot say: codes, and words with others between them.
# Each is tried only where one of its words occurs (or, for codes, a digit).
CUE_PATTERN_WORDS: dict[str, frozenset[str]] = {
    "error code": frozenset({"correlation"}),
    "our network fine": frozenset(
        [
            "internet",
            "line",
            "leitung",
            "lijn",
            "verbinding",
            "connexion",
            "ligne",
            "netwerk",
            "network",
            "netz",
            "router",
            "reseau",
            "box",
        ]
    ),
    "since update": frozenset({"update", "mise", "build", "versie", "version"}),
}
CUE_PATTERNS: dict[str, re.Pattern[str]] = {
    "error code": re.compile(
        r"\baadsts\d+|\b0x[0-9a-f]{6,}|\b[45]\.\d\.\d{1,3}\b|correlation id|"
        r"(?:http|error|fout|fehler|erreur|code)\W{0,3}[45]\d\d\b|\b[45]\d\d (?:service "
        r"unavailable|internal server error|bad gateway|gateway timeout)"
    ),
    "our network fine": re.compile(
        r"(?:internet|line|leitung|lijn|verbinding|connexion|ligne|netwerk|network|netz|router|"
        r"reseau|box)\W+(?:\w+\W+){0,3}?(?:is fine|works|is ok|werkt|doet het|in orde|prima|"
        r"in ordnung|funktioniert|geht|laeuft|lauft|fonctionne|marche|va bien|est ok)"
    ),
    "since update": re.compile(
        r"\b(?:since|after) (?:the |last |this |a )?(?:\w+ )?update|(?:na|sinds) de (?:\w+ )?"
        r"update|(?:seit|nach) dem (?:\w+ )?update|depuis la (?:derniere )?mise a jour|apres la "
        r"(?:derniere )?mise a jour|\bbuild \d{4}|versi(?:e|on) \d{4}"
    ),
}


def expand(alternatives: str) -> list[str]:
    """ "(a|b) c?" -> ["a c", "b c", "a", "b"]: the phrases a cue's text stands for."""
    return [" ".join(p.split()) for p in _expand_sequence(alternatives)]


def _expand_sequence(text: str) -> list[str]:
    # Top-level alternatives, then each one's parts: literal text and (groups).
    results: list[str] = []
    for branch in _split_top(text, "|"):
        combos = [""]
        rest = branch
        while rest:
            if rest.startswith("("):
                depth, end = 0, 0
                while True:
                    depth += {"(": 1, ")": -1}.get(rest[end], 0)
                    if depth == 0:
                        break
                    end += 1
                options = _expand_sequence(rest[1:end])
                rest = rest[end + 1 :]
                if rest.startswith("?"):  # the group may be left out
                    options, rest = [*options, ""], rest[1:]
                combos = [c + o for c in combos for o in options]
            else:
                literal = rest.split("(", 1)[0]
                combos = [c + literal for c in combos]
                rest = rest[len(literal) :]
        results.extend(combos)
    return results


def _split_top(text: str, separator: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


_TOKENS = re.compile(r"[a-z0-9]+")
# first word -> (the phrase's words after it, the cue's index), longest phrases first
_PHRASES: dict[str, list[tuple[tuple[str, ...], int]]] = {}
for _cue, _text in enumerate(CUES.values()):
    for _phrase in expand(_text) if _text else []:
        _words = tuple(_TOKENS.findall(_phrase))
        if _words:
            _PHRASES.setdefault(_words[0], []).append((_words[1:], _cue))
for _entries in _PHRASES.values():
    _entries.sort(key=lambda entry: -len(entry[0]))
_PATTERN_INDEX = tuple(
    (list(CUES).index(name), CUE_PATTERN_WORDS[name], pattern)
    for name, pattern in CUE_PATTERNS.items()
)
_ERROR_CODE = list(CUES).index("error code")


# Pairs of cues that mean more together than apart: many users and a failure is an outage of
# a service, one user and a failure is a device; a linear model cannot multiply them itself.
PAIRS = (("many users", "failure"), ("only me", "failure"), ("product", "failure"))
_PAIR_INDEX = tuple((list(CUES).index(a), list(CUES).index(b)) for a, b in PAIRS)
CUE_NAMES = (*CUES, *(f"{a} + {b}" for a, b in PAIRS))
# A cue weighs like a strong word: TF-IDF rows are scaled to length 1, so one word of a short mail
# is worth about 0.3 (chosen by cross-validation on the training part).
CUE_WEIGHT = 0.3


def cue_vector(doc: str) -> list[float]:
    found = [0.0] * len(CUES)
    tokens = _TOKENS.findall(doc)
    for i, token in enumerate(tokens):
        for rest, cue in _PHRASES.get(token, ()):
            if tuple(tokens[i + 1 : i + 1 + len(rest)]) == rest:
                found[cue] = CUE_WEIGHT
    present = set(tokens)
    digits = any(c.isdigit() for c in doc)
    for cue, words, pattern in _PATTERN_INDEX:
        if (present & words or (digits and cue == _ERROR_CODE)) and pattern.search(doc):
            found[cue] = CUE_WEIGHT
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
