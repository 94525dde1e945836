"""Bounces: is this a delivery failure report, and which recipients failed?

RFC 3464 delivery status notifications are read here; the many MTAs that send something else
(qmail, old Exim and Postfix, Yahoo, AOL, GroupWise, Exchange 5.5…) are left to flufl.bounce, GNU
Mailman's bounce detectors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from email.message import EmailMessage, Message

from flufl.bounce import all_failures

# RFC 3464 §2.3.3: "failed" and "delayed" tell the sender something went wrong; "delivered",
# "relayed" and "expanded" do not.
_FAILED_ACTIONS = {"failed", "delayed", ""}
_ADDRESS = re.compile(r"[^\s<>\"';:,()]+@[^\s<>\"';:,()]+\.[^\s<>\"';:,()]+")
_ROBOT_SENDERS = re.compile(
    r"mailer-daemon|post_?master|mail delivery (?:system|subsystem)|mailer_daemon|"
    r"mail administrator|mail delivery software|mdaemon|mail_service|mailer@|smtp.*daemon",
    re.IGNORECASE,
)

# Subjects that only delivery reports have (Exchange, Sendmail, Exim, Postfix, qmail, Gmail).
_REPORT_SUBJECT = re.compile(
    r"^(?:undeliverable|undelivered mail|returned mail|mail delivery failed|failure notice|"
    r"delivery status notification \((?:failure|delay)\)|permanent delivery failure|"
    r"delivery failure|nondeliverable|non remis|unzustellbar|onbestelbaar|failed mail|"
    r"mail system error|undeliverable mail|returned mail - error)\b",
    re.IGNORECASE,
)


def is_report(message: EmailMessage, fields: dict[str, str]) -> bool:
    """A delivery report by its form: RFC 3464/6522 content type (or an RFC 5965 abuse report),
    Exim's X-Failed-Recipients, or a subject only delivery reports have."""
    if message.get_content_type() == "multipart/report":
        report = str(message.get_param("report-type", "") or "").lower()
        return report in {"delivery-status", "feedback-report", ""}
    if fields.get("x-failed-recipients"):
        return True
    return bool(_REPORT_SUBJECT.match(fields.get("subject", "").strip()))


def robot_sender(sender: str) -> bool:
    """The mailer daemon or postmaster (RFC 5321 §4.5.1) and their aliases."""
    return bool(_ROBOT_SENDERS.search(sender))


def is_bounce(message: EmailMessage, fields: dict[str, str]) -> bool:
    """A delivery report by form, or mail from the mailer daemon or the null sender."""
    if is_report(message, fields) or robot_sender(fields.get("from", "")):
        return True
    return fields.get("return-path", "").strip() == "<>"


def bounced_recipients(message: EmailMessage) -> tuple[str, ...]:
    """The recipients a bounce reports as failed, lower case, in the order given."""
    found = _dsn_recipients(message) or _feedback_recipients(message)
    if not found:
        found = _failed_recipients_header(message)
    if not found:
        found = _plausible(_detected_recipients(message), message) or _addresses_in_notice(message)
    return tuple(dict.fromkeys(a.lower() for a in found if _deliverable(a)))


def _deliverable(address: str) -> bool:
    """Not an obfuscated archive address ("david...@gmail.com"): RFC 5322 §3.2.3 dot-atoms
    have no empty atoms."""
    local = address.rpartition("@")[0]
    return bool(local) and ".." not in local and not local.startswith(".")


def _dsn_recipients(message: Message) -> list[str]:
    found: list[str] = []
    for part in _own_parts(message):
        if part.get_content_type() not in (
            "message/delivery-status",
            "message/global-delivery-status",
        ):
            continue
        for block in _status_blocks(part):
            action = str(block.get("Action", "") or "").strip().lower()
            if action not in _FAILED_ACTIONS:
                continue
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
            found.extend(_ADDRESS.findall(_after_type(str(recipient or ""))))
    return found


def _own_parts(message: Message, depth: int = 0) -> Iterator[Message]:
    """The report's parts, not those of the returned mail (which may be a report itself)."""
    yield message
    if message.get_content_maintype() != "multipart" or depth > 50:
        return
    payload = message.get_payload()
    for part in payload if isinstance(payload, list) else []:
        if isinstance(part, Message):
            yield from _own_parts(part, depth + 1)


def _feedback_recipients(message: Message) -> list[str]:
    """An abuse report (RFC 5965): the recipient who complained, from Original-Rcpt-To or the
    To: of the reported message."""
    if str(message.get_param("report-type", "") or "").lower() != "feedback-report":
        return []
    found: list[str] = []
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            text = _part_text(part)
            found += _ADDRESS.findall(" ".join(_RCPT_LINE.findall(text)))
    if found:
        return found
    _, original = _notice_and_original(message)
    return [a for line in _TO_LINE.findall(original) for a in _ADDRESS.findall(line)]


_RCPT_LINE = re.compile(r"^(?:Original-Rcpt-To|Removal-Recipient)\s*:(.*)$", re.I | re.M)


def _status_blocks(part: Message) -> list[Message]:
    """The per-recipient field blocks; the first block is the per-message one (RFC 3464 §2.1)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    return []


def _after_type(value: str) -> str:
    """'rfc822; anna@example.com' → 'anna@example.com' (RFC 3464 §2.3.2 address-type)."""
    return value.partition(";")[2] if ";" in value else value


def _failed_recipients_header(message: Message) -> list[str]:
    return _ADDRESS.findall(str(message.get("X-Failed-Recipients", "") or ""))


def _detected_recipients(message: Message) -> list[str]:
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector that trips over a malformed report must not stop the parse
        return []
    text = _searchable(message)
    return [*_in_order_given(permanent, text), *_in_order_given(temporary, text)]


def _in_order_given(addresses: Iterable[object], text: str) -> list[str]:
    """flufl.bounce returns sets, whose order changes with the hash seed: the addresses as the
    report mentions them first, so that the same bounce always reads the same."""
    decoded = [a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in addresses]

    def position(address: str) -> tuple[int, str]:
        at = text.find(address.lower())
        return (at if at >= 0 else len(text), address.lower())

    return sorted(decoded, key=position)


def _searchable(message: Message) -> str:
    try:
        return message.as_string().lower()
    except Exception:  # a part the generator cannot write: the addresses by name then
        return ""


# Where the returned original message starts in a plain-text bounce (qmail, Exim, Sendmail…).
_ORIGINAL_STARTS = re.compile(
    r"^(?:-+ ?(?:This is a copy|Original message|Below this line|The header of the original|"
    r"Returned message|Undelivered message|Unsent message)|-+ ?Original|Received: |"
    r"Return-Path:\s*<|Message-ID:\s*<)",
    re.IGNORECASE | re.MULTILINE,
)
_ROBOT_ADDRESS = re.compile(r"^(?:mailer-daemon|postmaster|double-bounce|noreply|no-reply)@", re.I)
_ID_LINE = re.compile(r"^[\w-]*(?:Message-ID|References|In-Reply-To|-ID)\s*:(.*)$", re.I | re.M)
_TO_LINE = re.compile(r"^To:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def _plausible(found: list[str], message: Message) -> list[str]:
    """Addresses guessed from free text, without Message-IDs (they look like addresses), and
    only those the returned message was sent To when it shows that."""
    if not found:
        return found
    notice, original = _notice_and_original(message)
    text = f"{notice}\n{original}"
    ids = {a.lower() for line in _ID_LINE.findall(text) for a in _ADDRESS.findall(line)}
    found = _without_aliases([a for a in found if a.lower().strip("[<>]") not in ids], notice)
    original_to = {a.lower() for line in _TO_LINE.findall(original) for a in _ADDRESS.findall(line)}
    return [a for a in found if a.lower() in original_to] or found


# Exim's "(generated from alias@…)" and Postfix's "(expanded from <alias@…>)": the address that
# forwarded to the failed one. Like RFC 3464's Final-Recipient, the failed one is reported.
_ALIAS_CLAUSE = re.compile(r"\((?:generated|expanded) from\s*<?([^\s<>()]+@[^\s<>()]+)", re.I)


def _without_aliases(found: list[str], notice: str) -> list[str]:
    """`found` without the aliases, unless only aliases are named ("an undisclosed address
    (generated from x@…)")."""
    aliases = {a.lower() for a in _ALIAS_CLAUSE.findall(notice)}
    return [a for a in found if a.lower() not in aliases] or found


def _addresses_in_notice(message: Message) -> list[str]:
    """A bounce in no known format: the addresses its notice names, above the returned
    message, that are not the robots' or the bounce's own; when the returned message shows its
    To:, only those among them."""
    notice, original = _notice_and_original(message)
    own = {a.lower() for field in ("From", "To", "Cc", "Reply-To") for a in _field(message, field)}
    ids = {a.lower() for line in _ID_LINE.findall(notice) for a in _ADDRESS.findall(line)}
    named = [
        a
        for a in dict.fromkeys(_ADDRESS.findall(notice))
        if a.lower() not in own | ids and not _ROBOT_ADDRESS.match(a)
    ]
    named = _without_aliases(named, notice)
    named = [a.strip(".>]") for a in named if not a.lower().startswith(("http", "mailto"))]
    original_to = {a.lower() for line in _TO_LINE.findall(original) for a in _ADDRESS.findall(line)}
    confirmed = [a for a in named if a.lower() in original_to]
    # No address in the notice ("Cannot send message for 4 days"): the returned mail's To:.
    return confirmed or named[:5] or sorted(original_to - own)[:5]


def _field(message: Message, name: str) -> list[str]:
    try:
        return _ADDRESS.findall(str(message.get(name, "") or ""))
    except Exception:
        return []


def _notice_and_original(message: Message) -> tuple[str, str]:
    notice: list[str] = []
    original: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            original.append(_part_text(part))
            break
        if part.get_content_maintype() == "text":
            text = _part_text(part)
            match = _ORIGINAL_STARTS.search(text)
            if match:
                notice.append(text[: match.start()])
                original.append(text[match.start() :])
                break
            notice.append(text)
    return "\n".join(notice)[:20000], "\n".join(original)[:50000]


def _part_text(part: Message) -> str:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        return _as_text(inner[0]) if isinstance(inner, list) and inner else ""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        text = payload.decode("utf-8", "replace")
    else:
        inner = part.get_payload()
        text = "\n".join(_as_text(p) for p in inner) if isinstance(inner, list) else str(inner)
    return text.replace("\r\n", "\n").replace("\r", "\n")  # CR-only mail from old Macs


def _as_text(message: object) -> str:
    if not isinstance(message, Message):
        return str(message)
    try:
        return message.as_string()
    except Exception:  # the generator raises on some broken parts
        return ""
