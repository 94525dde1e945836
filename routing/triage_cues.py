"""Triage's cues: the partner's meaning, in Dutch, English, German and French.

A cue is one feature that says what the partner decides on whatever the words: many users or
"only me", other companies too, the customer's own network, a past incident, an error code, ...
(`CUES`), and a few pairs that mean more together (`PAIRS`). `cue_vector` gives a normalized
document's cues, `CUE_NAMES` their names in the model's columns.

Apart from the vectorizers and the model because it is most of triage's hand-written knowledge
(phrase lists in four languages), edited on its own when the corpus shows a cue missing.

Pure: no I/O, nothing from `gateway/`.
"""

from __future__ import annotations

import re

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
