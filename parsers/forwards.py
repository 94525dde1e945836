"""A forwarded mail inside a message: a customer forwards a colleague's problem with a short
note ("see below, can you help?"), and the forwarded mail is the request.

Clients forward in three ways: below a separator that says "forwarded" (Gmail, Thunderbird,
Apple Mail, in the sender's language), below the same header block as a reply (Outlook: only the
"FW:"/"WG:"/"TR:"/"Doorst:" subject or the note tells it is a forward), or as an attached
message/rfc822 part. Pure: text and parsed MIME parts in, a `Forwarded` out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from parsers.quote_markers import QUOTE, is_header
from parsers.quotes import new_text


@dataclass(frozen=True)
class Forwarded:
    from_addr: str  # lower case; '' when the forward names no address (Outlook within a company)
    from_name: str
    date: str  # as the forwarding client wrote it: "Dienstag, 3. März 2026 10:12"
    subject: str
    text: str  # the forwarded mail's own new text, without its quoted history

    def as_json(self) -> dict[str, object]:
        return {
            "from": self.from_addr or self.from_name,
            "from_name": self.from_name,
            "date": self.date,
            "subject": self.subject,
            "text": self.text,
        }


# The first prefix decides: "RE: FW: x" answers a forward, "FW: RE: x" forwards an answer.
_FORWARD_SUBJECT = re.compile(
    r"^\s*(?:(?:\[[^\]]{0,40}\]|external\s*:)\s*)*"
    r"(?:fw|fwd|wg|wtr|tr|doorst|vs|vb|rv|i|enc|pd|fs|vl|přep|転送|转发|轉寄)\s*\.?\s*[:：]",
    re.IGNORECASE,
)
_REPLY_SUBJECT = re.compile(
    r"^\s*(?:(?:\[[^\]]{0,40}\]|external\s*:)\s*)*"
    r"(?:re|aw|antw|antwort|antwoord|sv|r|odp|res|rif|ynt|atb|回复|回覆|答复|返信)\s*[:：]",
    re.IGNORECASE,
)
# Separators that only a forward has; "Original Message" and Outlook's header block are shared
# with replies.
_FORWARD_SEPARATOR = re.compile(
    r"^[-_=*\s]*(?:Forwarded message|Forwarded Message|Message transféré|Message réexpédié|"
    r"Weitergeleitete Nachricht|Doorgestuurd bericht|Doorgestuurde e-?mail|Mensaje reenviado|"
    r"Messaggio inoltrato|Mensagem encaminhada|Vidarebefordrat meddelande|Videresendt melding|"
    r"Videresendt meddelelse|Välitetty viesti|Wiadomość przekazana dalej|Přeposlaná zpráva|"
    r"Пересылаемое сообщение|Пересланное сообщение|転送されたメッセージ|转发邮件)"
    r"\s*[-_=*]*\s*$"
    r"|^(?:Begin forwarded message|Anfang der weitergeleiteten Nachricht|"
    r"Début du message réexpédié|Begin doorgestuurd bericht|Inicio del mensaje reenviado|"
    r"Início da mensagem reencaminhada|Inizio messaggio inoltrato|Vidarebefordrat brev)\s*:\s*$",
    re.IGNORECASE,
)
_SHARED_SEPARATOR = re.compile(
    r"^[-_=*\s]*(?:Original Message|Message d['’]origine|Message original|"
    r"Ursprüngliche Nachricht|Original-Nachricht|Oorspronkelijk bericht|Origineel bericht|"
    r"Mensaje original|Messaggio originale|Mensagem original|Ursprungligt meddelande)?"
    r"\s*[-_=*]*\s*$",
    re.IGNORECASE,
)
# The short note of a forward, in the customers' languages.
_NOTE = re.compile(
    r"\b(?:(?:please )?see (?:the )?(?:e-?mail |mail |message )?below|fyi|for your information|"
    r"siehe (?:die |meine )?(?:e-?mail |mail |nachricht )?(?:unten|weiter unten|nachfolgend)|"
    r"zur info(?:rmation)?|z\.\s?k\.|"
    r"zie (?:de )?(?:e-?mail |mail |bericht )?(?:onderstaand|hieronder|beneden)|"
    r"ter info(?:rmatie)?|"
    r"voir (?:le )?(?:mail |message )?ci-dessous|ci-dessous|pour info(?:rmation)?)\b",
    re.IGNORECASE,
)
# A cheap test before reading lines: word parts that only a forward's separator holds, case
# sensitive (an IGNORECASE alternation over a whole body cost a hundred times more).
_FORWARD_HINT = re.compile(
    r"orward|eitergeleitet|oorgestuurd|ransf[ée]r[ée]|[ée]exp[ée]di[ée]|eenviado|noltrato|"
    r"ncaminhada|idarebefordra|ideresendt|älitetty|rzekazana|řeposlan|ересла|転送|转发"
)
# The note of a forward is at the top: only this much is searched for it.
_NOTE_AREA = 2000

_FROM_NAMES = {"from", "von", "van", "de", "da", "från", "fra", "od", "от", "від", "lähettäjä"}
_DATE_NAMES = {
    "date", "sent", "datum", "gesendet", "verzonden", "verstuurd", "envoyé", "envoye", "enviado",
    "fecha", "data", "inviato", "skickat", "sendt", "dato", "wysłano", "lähetetty", "дата",
}  # fmt: skip
_SUBJECT_NAMES = {
    "subject", "betreff", "onderwerp", "objet", "sujet", "asunto", "assunto", "oggetto", "ämne",
    "emne", "temat", "aihe", "тема", "předmět",
}  # fmt: skip
_LIST_NAMES = {"to", "cc", "an", "kopie", "aan", "à", "a", "pour", "para", "till", "til", "do"}
_MAX_LINES = 5000
# A forward's note is a few lines; a long text above a header block is a reply.
_MAX_NOTE_LINES = 25


def is_forward_subject(subject: str) -> bool:
    return bool(_FORWARD_SUBJECT.match(subject))


def may_hold_forward(text: str, subject: str) -> bool:
    """Cheap test: could `text` hold a forwarded mail? (an HTML body, before it is rendered)"""
    if is_forward_subject(subject):
        return True
    if _FORWARD_HINT.search(text) is not None:
        return True
    return not _REPLY_SUBJECT.match(subject) and _NOTE.search(text[:_NOTE_AREA]) is not None


def forwarded_in(text: str, subject: str, depth: int = 0) -> tuple[str, Forwarded] | None:
    """(the note above the forwarded mail, the forwarded mail), or None when `text` forwards
    nothing. `depth`: how many forwards `text` is inside already."""
    if not may_hold_forward(text, subject):
        return None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:_MAX_LINES]
    found = _start(lines)
    if found is None:
        return None
    start, headers_at, certain = found
    note = "\n".join(lines[:start])
    if not certain and not _forward_evidence(note, subject):
        return None
    fields, body_at = _header_block(lines, headers_at)
    if not fields.get("from") and not fields.get("subject"):
        return None
    body = "\n".join(lines[body_at:])
    return note, _innermost(fields, body, depth)


# A forward of a forward of a forward is still someone's problem; deeper is no person's.
_MAX_FORWARDS = 5


def _innermost(fields: dict[str, str], body: str, depth: int) -> Forwarded:
    """The forwarded mail; when it only forwards another one with a short note of its own
    ("FYI"), the one it forwards: that mail holds the problem."""
    if depth < _MAX_FORWARDS:
        inner = forwarded_in(body, fields.get("subject", ""), depth + 1)
        if inner is not None and len(inner[0].strip().splitlines()) <= _MAX_NOTE_LINES:
            return inner[1]
    return _forwarded(fields, body)


def _forward_evidence(note: str, subject: str) -> bool:
    """Outlook forwards under the header block its replies have: a forward subject tells, or a
    note such as "see below" under a subject that is not a reply's."""
    if is_forward_subject(subject):
        return True
    if _REPLY_SUBJECT.match(subject):
        return False
    return _NOTE.search(note) is not None and len(note.strip().splitlines()) <= _MAX_NOTE_LINES


def _start(lines: list[str]) -> tuple[int, int, bool] | None:
    """Where the forwarded mail starts: (its first line, the line its headers start at, whether
    the separator says "forwarded" for sure)."""
    for index, line in enumerate(lines):
        if not line.strip() or QUOTE.match(line):
            continue
        if len(line) < 200 and _FORWARD_SEPARATOR.match(line):
            return index, index + 1, True
        if len(line) < 200 and _SHARED_SEPARATOR.match(line) and _headers_follow(lines, index + 1):
            return index, index + 1, False
        if _is_field(line, _FROM_NAMES | _DATE_NAMES) and _headers_follow(lines, index):
            return index, index, False
    return None


def _headers_follow(lines: list[str], start: int) -> bool:
    """At least two header lines, one of them From/Von/Van/De, begin at `start` (blank lines
    skipped: Apple Mail puts one between its separator and the headers)."""
    index = _skip_blank(lines, start, 2)
    block: list[str] = []
    while index < len(lines) and len(block) < 8 and is_header(lines[index]):
        block.append(lines[index])
        index += 1
    return len(block) >= 2 and any(_is_field(line, _FROM_NAMES) for line in block)


def _skip_blank(lines: list[str], index: int, most: int) -> int:
    skipped = 0
    while index < len(lines) and not lines[index].strip() and skipped < most:
        index += 1
        skipped += 1
    return index


def _is_field(line: str, names: set[str]) -> bool:
    return is_header(line) and _field(line)[0] in names


_NAME = re.compile(r"^[\s*]*([^:：]{1,30}?)[\s*]*[:：][\s*]*(.*)$")


def _field(line: str) -> tuple[str, str]:
    match = _NAME.match(line)
    if not match:
        return "", ""
    return match[1].strip().lower(), match[2].strip(" \t*")


def _header_block(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    """The From, Date and Subject of the header block at `start`, and where its body starts.
    An address list wrapped onto the next line (Outlook's long To:) belongs to the block."""
    fields: dict[str, str] = {}
    index = _skip_blank(lines, start, 2)
    last = ""
    while index < len(lines):
        line = lines[index]
        if is_header(line):
            last, value = _field(line)
            for key, names in (("from", _FROM_NAMES), ("date", _DATE_NAMES)):
                if last in names:
                    fields.setdefault(key, value)
            if last in _SUBJECT_NAMES:
                fields.setdefault("subject", value)
        elif not (line.strip() and last in _LIST_NAMES and ("@" in line or ";" in line)):
            break
        index += 1
    return fields, index


_MAILTO = re.compile(r"\[mailto:([^\]\s]+)\]", re.IGNORECASE)


def _forwarded(fields: dict[str, str], body: str) -> Forwarded:
    name, address = _sender(fields.get("from", ""))
    return Forwarded(
        from_addr=address,
        from_name=name,
        date=fields.get("date", ""),
        subject=fields.get("subject", ""),
        text=new_text(body),
    )


_ANGLE_ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_BARE_ADDRESS = re.compile(r"[^<>\s\"(),;:]+@[^<>\s\"(),;:]+")


def _sender(value: str) -> tuple[str, str]:
    """ "Anna <anna@x>", "Berg, Anna <anna@x>" (Outlook does not quote the comma), "Anna
    [mailto:anna@x]", "anna@x" or just "Berg, Anna" as (name, address)."""
    value = _MAILTO.sub(r"<\1>", value)
    angle = _ANGLE_ADDRESS.search(value)
    if angle:
        name = (value[: angle.start()] + value[angle.end() :]).strip().strip('"').strip()
        return name, angle[1].lower()
    bare = _BARE_ADDRESS.search(value)
    if bare:
        name = (value[: bare.start()] + value[bare.end() :]).strip(' "()')
        return name, bare[0].lower()
    return value.strip().strip('"'), ""


def attached_forward(message: Message, note: str, subject: str) -> Message | None:
    """The message/rfc822 part that the message forwards: the first one, when the subject or
    a short note says so."""
    if not message.is_multipart():
        return None
    if not (is_forward_subject(subject) or _NOTE.search(note) or len(note.strip()) < 300):
        return None
    return next((p for p in message.walk() if p.get_content_type() == "message/rfc822"), None)
