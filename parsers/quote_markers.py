"""What the lines around quoted history look like, in the languages our customers write.

Mail clients write the quote header in the sender's language: Gmail and Apple Mail an
"On <date>, <name> wrote:" line, Outlook a "From:/Sent:/To:/Subject:" block (below a rule, or
below "-----Original Message-----"), phones a "Sent from my iPhone" line.
"""

from __future__ import annotations

import re

# "> text", and Supercite's "JD> text" with the quoted author's initials.
QUOTE = re.compile(r"^\s*(?:[A-Z]{1,3})?>")
# A line made only of rule characters: a signature separator ("-- ", RFC 3676 §4.3), Outlook's
# underscore rule above its header block, or a decoration line ("=====", "ᐧ" of Gmail's tracker).
# Not "#" (a code comment); "* * *" is html2text's <hr>.
DELIMITER = re.compile(r"^\s*[-_,=+~*ᐧ—](?:[ \t]?[-_,=+~*ᐧ—])*\s*$")

# --- "On <date>, <name> wrote:" -------------------------------------------------------------

# Words a quote header line starts with: "On", "Op", "Am", "Le", "El", "Il", "Em", "Den", "På",
# "W dniu", "Dnia", "Dne", "В", "У", "Në", "Il giorno", and CJK forms that start with the date.
_ON = (
    r"(?:On|Op|Am|Le|El|Il(?: giorno)?|Em|Den|På|W dniu|Dnia|Dne|Dňa|Den|Kl\.|Ar|"
    r"В|У|Στις|Dana|Pada|Vào|El día|Tuesday|Monday|Wednesday|Thursday|Friday|Saturday|Sunday)"
)
# The verb that ends it; many clients put a space before the colon (French: " :").
_WROTE = (
    r"(?:wrote|writes|schreef|schrieb|geschreven|a écrit|a ecrit|escribió|escribio|escrigué|"
    r"va escriure|ha scritto|scrisse|escreveu|skrev|skrifaði|napisał\(a\)|napisała|napisał|"
    r"napsal\(a\)|napsal|napísal|написал\(а\)|написала|написал|написав\(ла\)|написав|"
    r"пише|pisze|píše|schreibt|kirjoitti|írta|yazdı|έγραψε|wrote the following|"
    r"het volgende geschreven|Folgendes geschrieben)"
)
# The name may follow the verb ("Am 3.2.2016 schrieb Max <max@example.com>:"); Zoho puts the line
# between dashes ("---- On Tue, … wrote ----").
_ON_WROTE = re.compile(
    rf"^(?:-{{2,}}\s*)?{_ON}\s.{{0,300}}?{_WROTE}(?:\s*:?|\s.{{0,200}}:|\s*-{{2,}})\s*$",
    re.IGNORECASE,
)
# Yahoo and Gmail's apps in German and Dutch: "Am 3. März 2026 hat Jan <jan@x> geschrieben:",
# "Op 3 mrt. 2026 heeft Jan <jan@x> geschreven:"; a date, so that prose ("Am Montag habe ich
# geschrieben:") is not taken for one.
_HAS_WRITTEN = re.compile(
    r"^(?:Am|Op)\s.{0,100}\d.{0,200}\s(?:hat|heeft)\s.{1,200}\s(?:geschrieben|geschreven)\s*:\s*$",
    re.IGNORECASE,
)
# "Jan de Vries <jan@contoso.example> schrieb:" (K-9 Mail, Thunderbird without a date) and
# "2016-02-06 14:07 GMT+01:00 Jan <jan@contoso.example>:" (Gmail in several locales).
_SOMEONE_WROTE = re.compile(rf"\s{_WROTE}(?:\s.{{0,80}})?\s*:\s*$", re.IGNORECASE)
# Gmail without a verb: "2016-02-06 14:07 GMT+01:00 Jan <jan@example.com>:", older versions
# "2013/7/20 Jan <jan@example.com>" without the colon.
_DATE_NAME_ADDRESS = re.compile(
    r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b.{0,120}"
    r"(?:<\s*[^<>\s]+@[^<>\s]+>\s*:?|\d{1,2}:\d{2}\s+GMT[+-]\d{1,2}:?\d{2}\s.{0,100})$"
)
# Chinese (写道 / 寫道), Japanese (書きました, のメッセージ), Korean (작성): the verb ends the line.
# Gmail in languages without a verb in the line: "ср, 30 апр. 2025 г. в 15:19, Jan <j@x.ru>:".
_DATE_THEN_ADDRESS = re.compile(r"\d.{0,200}<[^<>\s]+@[^<>\s]+>\s*:\s*$")
_CJK_WROTE = re.compile(r"(?:写道|寫道|書きました|のメッセージ|작성)\s*[:：]\s*$")

# --- forward and "original message" separators ---------------------------------------------------

_FORWARD_WORDS = (
    r"(?:Original Message|Forwarded message|Forwarded Message|Message d['’]origine|"
    r"Message transféré|Message original|Ursprüngliche Nachricht|Original-Nachricht|"
    r"Weitergeleitete Nachricht|Oorspronkelijk bericht|Origineel bericht|"
    r"Doorgestuurd bericht|Messaggio originale|Messaggio inoltrato|"
    r"Mensaje original|Mensaje reenviado|Mensagem original|Mensagem encaminhada|"
    r"Oryginalna wiadomość|Wiadomość przekazana dalej|Przekazana wiadomość|"
    r"Ursprungligt meddelande|Vidarebefordrat meddelande|Opprinnelig melding|Oprindelig besked|"
    r"Eredeti üzenet|Pôvodná správa|Originalnachricht|"
    r"Videresendt melding|Oprindelig meddelelse|Videresendt meddelelse|Alkuperäinen viesti|"
    r"Välitetty viesti|Původní zpráva|Исходное сообщение|Пересылаемое сообщение|"
    r"Пересланное сообщение|Оригінальне повідомлення|Переслане повідомлення|"
    r"元のメッセージ|転送されたメッセージ|原始邮件|原始郵件|转发邮件|Reply message)"
)
_FORWARD_SEPARATOR = re.compile(rf"^[-_=*\s]*{_FORWARD_WORDS}\s*[-_=*]*\s*$", re.IGNORECASE)
# Apple Mail and Gmail's plain forwards.
_BEGIN_FORWARDED = re.compile(
    r"^(?:Begin forwarded message|Anfang der weitergeleiteten Nachricht|"
    r"Début du message réexpédié|Begin doorgestuurd bericht|Inicio del mensaje reenviado|"
    r"Início da mensagem reencaminhada|Inizio messaggio inoltrato|Vidarebefordrat brev)\s*:\s*$",
    re.IGNORECASE,
)

# Helpdesks (Zendesk, Jira Service Management, Freshservice, OTRS) put a line above their mail
# that asks for the answer above it: what is below it is the helpdesk's mail.
_REPLY_ABOVE = re.compile(
    r"(?:reply|respond|write|type|antwort\w*|antwoord\w*|beantwoord\w*|reageer|répond\w*|"
    r"écri\w*)\b.{0,40}?\b(?:above|über|oberhalb|boven|au-dessus de)\s+"
    r"(?:this line|dieser Zeile|deze (?:lijn|regel)|cette ligne)",
    re.IGNORECASE,
)
# Outlook's header block on one line, as some converters of its HTML write it:
# "From: Jan <jan@example.com> Sent: Tuesday, 3 March 2026 10:12 To: Anna Subject: Printer".
_ONE_LINE_HEADERS = re.compile(
    r"^[\s*>]*(?:From|Von|Van|De)[\s*]*:.{1,300}?\s[*]*(?:Sent|Gesendet|Verzonden|Envoyé|Date|"
    r"Datum)[\s*]*:.{1,120}?\s[*]*(?:To|An|Aan|À)[\s*]*:",
    re.IGNORECASE,
)

# --- headers of an embedded mail -------------------------------------------------------------

# Header names whose value holds a date (so must show a digit), per language: en, de, nl, fr, es,
# it, pt, sv, no, da, pl, fi, ru, uk, cs, ja, zh.
_DATE_HEADERS = (
    r"Date|Sent|Time|Datum|Gesendet|Verzonden|Verstuurd|Envoyé|Envoye|Enviado|Fecha|Data|Inviato|"
    r"Skickat|Sendt|Dato|Wysłano|Lähetetty|Päivämäärä|Дата|Отправлено|Надіслано|Odesláno|送信日時|"
    r"日付|发送时间|日期|時間"
)
# Header names whose value is words.
_TEXT_HEADERS = (
    r"From|To|Cc|Reply-To|Subject|Von|An|Kopie|Betreff|Antwort an|Van|Aan|Onderwerp|De|À|A|Objet|"
    r"Sujet|Pour|Répondre à|Para|Asunto|Assunto|Da|Oggetto|Från|Till|Ämne|Kopia|Fra|Til|Emne|"
    r"Kopi|Od|Do|Temat|DW|Lähettäjä|Vastaanottaja|Aihe|От|Кому|Копия|Тема|Від|Копія|Komu|Předmět|差出人|"
    r"宛先|件名|発信者|发件人|收件人|主题|抄送|寄件者|收件者|主旨"
)
_DATE_HEADER = re.compile(rf"^[\s*>]*(?:{_DATE_HEADERS})[\s*]*[:：].*\d", re.IGNORECASE)
_TEXT_HEADER = re.compile(rf"^[\s*>]*(?:{_TEXT_HEADERS})[\s*]*[:：].*\w", re.IGNORECASE)

# --- mobile and webmail signatures -------------------------------------------------------------

_SIGNATURES = re.compile(
    r"^\s*[(<]*(?:"
    r"\w+ from mobile|Sent (?:from|via|with|by|using) .+|From my .{1,30}|Get \[?Outlook for .+|"
    r"Von meinem .+ gesendet|Gesendet (?:von|mit) (?:meinem|der|.{1,20} für) .+|"
    r"Gesendet (?:von|mit|aus) (?:Outlook|Mail|Yahoo|GMX|WEB\.DE|1&1|iCloud|BlueMail)\b.*|"
    r"Diese Nachricht wurde von .+ gesendet|"
    r"Verzonden (?:vanaf|met|via|vanuit) .+|Verstuurd (?:vanaf|met|vanuit) .+|"
    r"Envoyé (?:depuis|de) (?:mon|ma|Yahoo|Outlook).*|"
    r"Enviado (?:desde|de|do) (?:mi|meu|o|Yahoo|Outlook).*|Envoyé à partir de .+|"
    r"(?:Obtenir|Télécharger|Obtener|Holen Sie sich|Download) Outlook (?:pour|para|für|for) .+|"
    r"Outlook (?:voor|für|for) \S+ (?:downloaden|herunterladen|beziehen|holen|downloaden)\b.*|"
    r"Inviato da .{1,40}|Skickat från .+|Sendt fra .+|"
    r"Wysłane z .+|Отправлено с .+|Надіслано з .+|"
    r"從我的 iPhone 傳送|从我的 ?iPhone ?发送|iPhoneから送信"
    r")[)>]*[.!]?\s*$",
    re.IGNORECASE,
)


# "Sent from my desk, is much easier" is prose: after a comma a signature only apologises.
_PROSE_AFTER_COMMA = re.compile(
    r",\s+(?!please|pls|excuse|sorry|pardon|an? [\w&-]+ (?:[\w&-]+ )?smartphone|samsung|verizon)\w",
    re.IGNORECASE,
)


def is_signature(line: str) -> bool:
    """A one-line mobile or webmail signature ("Sent from my iPhone")."""
    if len(line) >= 200 or not _SIGNATURES.match(line):
        return False
    return not _PROSE_AFTER_COMMA.search(line)


def is_embedded_marker(line: str) -> bool:
    """A line that introduces quoted or forwarded history."""
    if len(line) > 600:
        return False
    line = line.lstrip(" \t>")  # a quoted quote header still starts history
    return bool(
        _ON_WROTE.match(line)
        or _HAS_WRITTEN.match(line)
        or _FORWARD_SEPARATOR.match(line)
        or _BEGIN_FORWARDED.match(line)
        or _CJK_WROTE.search(line)
        or (_SOMEONE_WROTE.search(line) is not None and _names_someone(line))
        or _DATE_NAME_ADDRESS.match(line)
        or (len(line) < 300 and _DATE_THEN_ADDRESS.search(line) is not None)
        or (len(line) < 160 and _REPLY_ABOVE.search(line) is not None)
        or _ONE_LINE_HEADERS.match(line) is not None
    )


def _names_someone(line: str) -> bool:
    """ "… wrote:" is a quote header only with an address or a date; "he wrote:" is prose."""
    return "@" in line or _has_digit(line)


def is_header(line: str) -> bool:
    """A header line of an embedded mail, such as Outlook's "From:" or "Gesendet:"."""
    return len(line) < 1000 and bool(_DATE_HEADER.match(line) or _TEXT_HEADER.match(line))


_STARTS_ON = re.compile(rf"^[\s>]{{0,20}}{_ON}\s", re.IGNORECASE)


def _may_start_marker(line: str) -> bool:
    """Cheap test before trying to join lines: a quote header starts with "On"-like word, or
    holds a date or an address."""
    if len(line) > 300 or not line.strip():
        return False
    return bool(_STARTS_ON.match(line)) or "@" in line or _has_digit(line)


_DIGIT = re.compile(r"\d")


def _has_digit(line: str) -> bool:
    # One regular-expression search, not a generator over the characters: every line of every
    # body goes through here.
    return _DIGIT.search(line) is not None


_ENDS_WROTE = re.compile(rf"{_WROTE}\s*:?\s*$|(?:写道|寫道|書きました)\s*[:：]\s*$", re.IGNORECASE)


def joined_marker_lines(lines: list[str]) -> list[str]:
    """Lines with an "On … wrote:" header that the client wrapped joined back into one line."""
    result: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        end = _wrapped_marker_end(lines, index) if _may_start_marker(line) else None
        if end is None:
            result.append(line)
            index += 1
            continue
        result.append(" ".join(part.strip() for part in lines[index : end + 1] if part.strip()))
        index = end + 1
    return result


def _wrapped_marker_end(lines: list[str], start: int) -> int | None:
    """Where a quote header that starts at `start` ends, when a client wrapped it (at most five
    lines, blank ones included: Outlook for Mac puts "<mailto:…>" on a line of its own)."""
    if lines[start].rstrip().endswith((":", "：")):
        return None  # complete already
    starts_on = bool(_STARTS_ON.match(lines[start]))
    for end in range(start + 1, min(start + 6, len(lines))):
        if not lines[end].strip() and not starts_on:
            return None  # only an "On …" line is wrapped across blank lines (Outlook for Mac)
        if _STARTS_ON.match(lines[end]) or _FORWARD_SEPARATOR.match(lines[end]):
            return None  # a marker starts on its own line; `start` is text above it
        tail = lines[end].rstrip()[-40:]  # the verb ends the line: search only its end
        if tail.endswith((":", "：")) or _ENDS_WROTE.search(tail):
            joined = " ".join(part.strip() for part in lines[start : end + 1] if part.strip())
            return end if is_embedded_marker(joined) else None
    return None
