"""Service health: documented incidents, and the one a customer's message is about.

Incidents come from two places, both turned into `Incident` by routing/service_health_sources.py:
the `[[known_issues]]` of config.toml and the JSON of Microsoft Graph service health issues.
`active` keeps those in force at a given `now`; `matching` picks the one a message is about, so its
title and status can go into the acknowledgement and the `known_issue` rule condition can hold;
`why_matched` says why, for `--explain`. The words both sides are read into (`words_of`,
`CANONICAL`) are here, since matching is what they are for.

Pure: no I/O, no clock of its own (the caller passes `now`), nothing from `gateway/`.

The matching rule
-----------------
The message is the subject plus the new text, minus mobile-client signature lines such as
"Sent from Outlook for iOS", "Get Outlook for Android" or "Verzonden vanaf mijn iPhone": a
customer whose phone says "Outlook" in every mail is not writing about Outlook.

Words are compared whole and in any case. Both the message's words and the incident's words are
first reduced to one form per meaning by a small English/Dutch table (`send`, "sends",
"verzendt", "versturen" → `send`; "e-mail", "mails" → `mail`; "inloggen", "sign-in" → `sign`;
"vergadering" → `meeting`, ...), so an English incident title matches Dutch mail. An incident word
of several words ("sign in") matches as a phrase.

An incident's *hits* are its words found in the message, plus the product named in its service
("Exchange Online" → exchange, "Microsoft Teams" → teams) if the message names it. A message
matches an incident when

1. at least two different hits occur ("Outlook verzendt niets meer" → outlook + send), or
2. the incident has a single word and that word occurs, or
3. one hit is a product (Outlook, Teams, Exchange, SharePoint, OneDrive, ...) and the message
   also says something does not work: a negation or failure word in English or Dutch ("not",
   "can't", "error", "outage", "niet", "geen", "storing", "kapot"). This is how short complaints
   such as "Teams doet het niet" find the Teams incident.
4. the incident's service is not named but clearly implied (mail, a mailbox or a calendar imply
   Exchange Online; a meeting or a call Teams; a sign-in or a password Entra ID; see
   `IMPLIED_BY`), a word of its title occurs and the message says something does not work:
   "Wir können keine E-Mails mehr versenden" finds "Exchange Online: users can't send mail".

German and French words are read too, into the same forms.

Resolved incidents never match (whether they have ended is `active`'s job: pass
`active(incidents, now)`). Of several matching incidents the best has the most hits; a tie goes to
the most recently started one (an incident without a start counts as the oldest), then to the one
given first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


def _listed(words: str) -> frozenset[str]:
    return frozenset(words.split())


@dataclass(frozen=True)
class Incident:
    """A documented incident, from Graph or from `[[known_issues]]`
    (routing/service_health_sources.py); `words` are what a message is matched on."""

    id: str
    service: str
    title: str
    status: str
    words: tuple[str, ...]
    start: datetime | None
    end: datetime | None
    resolved: bool


# Product names worth keeping as words and strong enough for rule 3. Common English words that are
# also product names ("word", "forms", "windows", "loop", "stream") are left out of this set:
# "I can't find the word" is not about Microsoft Word.
PRODUCTS = frozenset(
    {
        "outlook",
        "teams",
        "exchange",
        "sharepoint",
        "onedrive",
        "intune",
        "entra",
        "defender",
        "purview",
        "excel",
        "powerpoint",
        "onenote",
        "yammer",
        "copilot",
        "planner",
        "bookings",
        "dynamics",
        "azure",
    }
)

# Words of Graph titles and service names that say nothing about which incident a mail is about.
# Graph titles are formulaic ("Some users may be unable to access ..."), so without these nearly
# every title and every customer mail would share two words. "Microsoft" and "online" are in
# half the service names and in most mail.
STOP_WORDS = _listed(
    """
    about above after again against all also and any are aren't been before being both but
    can can't cannot certain could couldn't did didn't does doesn't doing don't due during each
    few for from further had has have having her here his how however into isn't its just may
    might more most multiple must not now off once only other our out over own same several
    should some such than that the their them then there these they this those through too
    under until upon very via was wasn't were what when where which while who why will with
    within without won't would you your
    able unable use used using user users customer customers tenant tenants organization
    experience experiencing experienced impact impacted impacting affected affecting
    intermittent intermittently issue issues problem problems error errors see seeing
    microsoft online service services suite app apps business
    """
)

# One form per meaning, so that English incident titles meet Dutch mail and plural or verb forms
# meet each other. Deliberately small: the verbs and nouns that Microsoft 365 incident titles use.
_SAME_MEANING: dict[str, tuple[str, ...]] = {
    "send": ("sends", "sending", "sent", "verzenden", "verzendt", "verzend", "versturen",
             "verstuurt", "senden", "versenden", "verschicken", "gesendet", "versendet",
             "envoyer", "envoi", "envoie", "envoyé", "envoyés"),
    "receive": ("receives", "receiving", "received", "ontvangen", "ontvangt", "ontvang",
                "empfangen", "bekommen", "erhalten", "recevoir", "reçu", "reçus", "reçois"),
    "mail": ("mails", "email", "emails", "e-mail", "e-mails", "mailtje", "mailverkehr",
             "courriel", "courriels"),
    "mailbox": ("mailboxes", "postvak", "postbus", "mailboxen", "postfach", "postfächer",
                "posteingang", "boîte", "messagerie"),
    "message": ("messages", "bericht", "berichten", "nachricht", "nachrichten"),
    "attachment": ("attachments", "bijlage", "bijlagen", "anhang", "anhänge", "pièce",
                   "pièces"),
    "sign": ("signin", "sign-in", "login", "log-in", "logon", "inloggen", "inlogt", "aanmelden",
             "anmelden", "anmeldung", "einloggen", "connexion", "connecter", "authentification"),
    "password": ("passwords", "wachtwoord", "wachtwoorden", "passwort", "kennwort",
                 "mot de passe"),
    "meeting": ("meetings", "vergadering", "vergaderingen", "vergaderen", "besprechung",
                "besprechungen", "meetings", "réunion", "réunions", "visio"),
    "call": ("calls", "calling", "gesprek", "gesprekken", "bellen", "anruf", "anrufe",
             "telefonie", "appel", "appels"),
    "calendar": ("calendars", "agenda", "agenda's", "kalender", "calendrier"),
    "chat": ("chats", "chatten"),
    "file": ("files", "bestand", "bestanden", "datei", "dateien", "fichier", "fichiers"),
    "share": ("shared", "sharing", "delen", "gedeeld", "gedeelde", "teilen", "freigabe",
              "partager", "partage"),
    "upload": ("uploads", "uploading", "uploaden", "hochladen"),
    "download": ("downloads", "downloading", "downloaden", "herunterladen", "télécharger"),
    "sync": ("syncing", "synchronize", "synchronise", "synchroniseren", "synchronisatie",
             "synchronisierung", "synchronisation"),
    "search": ("searching", "zoeken", "suche", "suchen", "recherche"),
    "access": ("accessing", "toegang", "zugriff", "zugreifen", "accès", "accéder"),
    "open": ("opens", "opening", "openen", "opent", "öffnen", "öffnet", "ouvrir", "ouvre"),
    "connect": ("connection", "connecting", "verbinding", "verbinden", "verbindung"),
    "delay": ("delays", "delayed", "vertraging", "vertraagd", "verzögerung", "verzögert",
              "retard", "retards"),
}  # fmt: skip
CANONICAL: dict[str, str] = {
    form: word for word, forms in _SAME_MEANING.items() for form in (word, *forms)
}

# Words that say something does not work, in English, Dutch, German and French (after
# `CANONICAL`).
SYMPTOMS = _listed(
    """
    not no nothing never can't cannot couldn't doesn't don't won't isn't aren't didn't unable
    fail fails failed failing failure error errors down outage broken problem problems issue
    issues stuck crash crashes crashed crashing slow
    niet niets geen nooit fout fouten foutmelding storing storingen probleem problemen kapot
    traag vastgelopen crasht
    nicht kein keine keinen nichts nie fehler fehlermeldung störung ausfall gestört
    funktioniert problem probleme langsam hängt abgestürzt
    pas plus aucun aucune rien jamais erreur panne plantage bloqué lent impossible
    dysfonctionnement incident
    """
)

# What names or implies a service though its product name is not written: mail is Exchange
# Online's, a meeting Teams', a sign-in Entra ID's. An implied service is weaker evidence than a
# named one: rule 4 of the module docstring wants a word of the incident's title as well.
IMPLIED_BY: dict[str, frozenset[str]] = {
    "exchange": frozenset({"mail", "mailbox", "outlook", "attachment", "calendar", "send"}),
    "outlook": frozenset({"mail", "mailbox", "calendar"}),
    "teams": frozenset({"meeting", "call", "chat"}),
    "sharepoint": frozenset({"site", "sites", "intranet", "library"}),
    "onedrive": frozenset({"sync", "file"}),
    "entra": frozenset({"sign", "password", "mfa", "aadsts"}),
    "intune": frozenset({"enrollment", "enrolment", "compliance", "autopilot"}),
}

# "Sent from Outlook for iOS", "Sent from my iPhone", "Sent from Mail for Windows",
# "Verzonden vanaf mijn iPhone", "Verstuurd vanuit Outlook voor Android": at most three words
# after the preposition, so "Sent from Outlook but it never arrived" is kept.
_SIGNATURES = (
    re.compile(
        r"(?:sent|verzonden|verstuurd)\s+(?:from|with|via|vanaf|vanuit|van|met)\s+"
        r"(?:my\s+|mijn\s+)?[\w-]+(?:\s+[\w-]+){0,2}\s*(?:<[^>]*>)?",
        re.IGNORECASE,
    ),
    # Outlook mobile: "Get Outlook for iOS<https://aka.ms/o0ukef>", Dutch "Outlook voor Android
    # downloaden".
    re.compile(
        r"(?:get|download|haal)\s+outlook\s+(?:for|voor)\s+\w+\s*(?:<[^>]*>)?", re.IGNORECASE
    ),
    re.compile(r"outlook\s+voor\s+\w+\s+(?:downloaden|ophalen)\s*(?:<[^>]*>)?", re.IGNORECASE),
)

# A word: letters and digits, joined by an apostrophe or a hyphen ("can't", "e-mail", "sign-in").
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def words_of(text: str) -> tuple[str, ...]:
    """The words of a service name and title: lower case, no stop words, none shorter than three
    letters and no bare numbers ("365"); product names are always kept."""
    kept = (
        word
        for word in _words(text)
        if word in PRODUCTS or (len(word) >= 3 and not word.isdigit() and word not in STOP_WORDS)
    )
    return tuple(dict.fromkeys(kept))


def in_utc(moment: datetime) -> datetime:
    """A time without a zone is UTC, as Graph and config.toml mean it; it can then be compared."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- Choosing ----------------------------------------------------------------------------------


def active(incidents: Iterable[Incident], now: datetime) -> list[Incident]:
    """Incidents in force at `now`: not resolved, started (or without a start), not yet ended."""
    now = in_utc(now)
    return [
        incident
        for incident in incidents
        if not incident.resolved
        and (incident.start is None or incident.start <= now)
        and (incident.end is None or now < incident.end)
    ]


def matching(incidents: Sequence[Incident], subject: str, text: str) -> Incident | None:
    """The incident a customer's message is about, or None; the rule is in the module docstring.

    Pass `active(incidents, now)`: this looks at words, not at the clock."""
    if not incidents:  # most of the time: the message's words need not be read at all
        return None
    message = _message_words(subject, text)
    best: tuple[int, datetime, int] | None = None
    chosen: Incident | None = None
    for position, incident in enumerate(incidents):
        if incident.resolved:
            continue
        hits = _hits(incident, message)
        if not (_matches(incident, hits, message) or _implied_match(incident, hits, message)):
            continue
        start = incident.start or datetime.min.replace(tzinfo=UTC)
        rank = (len(hits), start, -position)
        if best is None or rank > best:
            best, chosen = rank, incident
    return chosen


def _message_words(subject: str, text: str) -> str:
    """The message as canonical words between spaces, for whole-word and phrase look-ups."""
    lines = [line for line in text.splitlines() if not _is_signature(line)]
    words = [CANONICAL.get(w, w) for w in _words("\n".join([subject, *lines]))]
    return f" {' '.join(words)} "


def _is_signature(line: str) -> bool:
    stripped = line.strip().strip("-_*").strip()
    return any(pattern.fullmatch(stripped) for pattern in _SIGNATURES)


def _hits(incident: Incident, message: str) -> set[str]:
    wanted = {_canonical(word) for word in incident.words} | _products(incident)
    return {word for word in wanted if word and f" {word} " in message}


def _matches(incident: Incident, hits: set[str], message: str) -> bool:
    if len(hits) >= 2:
        return True
    own = {_canonical(word) for word in incident.words}
    if len(own) == 1 and own <= hits:
        return True
    return bool(hits & PRODUCTS) and any(f" {word} " in message for word in SYMPTOMS)


def _implied_match(incident: Incident, hits: set[str], message: str) -> bool:
    """Rule 4: the incident's service is implied, a word of its title occurs, and the message
    says something does not work ("Wir können keine E-Mails versenden": mail implies Exchange,
    send is in the title, keine is a failure)."""
    title_hits = hits - _products(incident)
    return bool(title_hits and _implied(incident, message) and _symptom(message))


def _implied(incident: Incident, message: str) -> list[str]:
    """The message's words that imply the incident's service."""
    implying = set().union(*(IMPLIED_BY.get(p, frozenset()) for p in _products(incident)))
    return sorted(word for word in implying if f" {word} " in message)


def _symptom(message: str) -> list[str]:
    return sorted(word for word in SYMPTOMS if f" {word} " in message)


def why_matched(incident: Incident, subject: str, text: str) -> list[str]:
    """What made `incident` match the message, for `gatewayd route --explain`."""
    message = _message_words(subject, text)
    hits = _hits(incident, message)
    named = sorted(hits & _products(incident))
    words = sorted(hits - _products(incident))
    reasons = []
    if named:
        reasons.append(f"names {incident.service or ', '.join(named)}")
    elif implied := _implied(incident, message):
        reasons.append(f"implies {incident.service}: {', '.join(implied)}")
    if words:
        reasons.append(f"words of the incident: {', '.join(words)}")
    if symptoms := _symptom(message):
        reasons.append(f"says something does not work: {', '.join(symptoms)}")
    return reasons


def _products(incident: Incident) -> set[str]:
    return {word for word in _words(incident.service) if word in PRODUCTS}


def _canonical(phrase: str) -> str:
    return " ".join(CANONICAL.get(w, w) for w in _words(phrase))


# French elision: "d'envoyer", "l'accès", "qu'Outlook" are the words after the apostrophe.
_ELISION = re.compile(r"\b(?:[cdjlmnst]|qu)'(?=[^\W_])")


def _words(text: str) -> list[str]:
    # Typographic apostrophes: Outlook and phones turn "can't" into "can’t".
    text = text.replace("\u2019", "'").lower()
    return _WORD.findall(_ELISION.sub("", text) if "'" in text else text)
