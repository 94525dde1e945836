"""What triage reads of a mail, and its language: the one text the vectorizers and cues see.

The classifier reads the subject, the new text and the forwarded text (a colleague's problem the
customer passes on), never the quoted history: `mail_parts` turns a body as a customer wrote it
into those parts the way the parser does, so the labelled corpus is read like live mail. Greetings,
sign-offs and signatures are left out (`request_text`) and the result is lower case without
accents (`normalized`); `document` is that text.

Apart from the model (routing/triage.py) because it is the mail side of triage: the parser's
rules applied to a body, with nothing of TF-IDF or training in it.

Pure: no I/O, nothing from `gateway/`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from parsers.quote_markers import is_embedded_marker, is_header, is_signature
from parsers.quotes import new_text
from routing.intents import LANGUAGES, MailText
from routing.triage_cues import cue_vector

# Only the start of a long mail is read: the request is at the top, and the cost of a mail
# grows with its length.
MAX_CHARS = 3000
MAX_FORWARDED_CHARS = 2000


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


# --- its language -----------------------------------------------------------------------------

# The commonest short words of each language. Counting them tells the four languages apart in
# in microseconds per mail, which a general detector (lingua, with its large models) does
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
