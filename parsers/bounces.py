"""Bounces: is this a delivery failure report, and which recipients failed?

RFC 3464 delivery status notifications are read here; the many MTAs that send something else
(qmail, old Exim and Postfix, Yahoo, AOL, GroupWise, Exchange 5.5…) are left to flufl.bounce, GNU
Mailman's bounce detectors.
"""

from __future__ import annotations

import re
from email.message import EmailMessage, Message

from flufl.bounce import all_failures

# RFC 3464 §2.3.3: "failed" and "delayed" tell the sender something went wrong; "delivered",
# "relayed" and "expanded" do not.
_FAILED_ACTIONS = {"failed", "delayed", ""}
_ADDRESS = re.compile(r"[^\s<>\"';:,()]+@[^\s<>\"';:,()]+\.[^\s<>\"';:,()]+")
_ROBOT_SENDERS = re.compile(
    r"mailer-daemon|postmaster|mail delivery (?:system|subsystem)|mailer_daemon|"
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


def is_bounce(message: EmailMessage, fields: dict[str, str]) -> bool:
    """A delivery report by content type (RFC 3464/6522), or a robot sender with a bounce
    subject (the non-standard formats)."""
    if message.get_content_type() == "multipart/report":
        report = message.get_param("report-type", "") or ""
        return str(report).lower() in {"delivery-status", ""}
    if fields.get("x-failed-recipients"):  # Exim
        return True
    subject = fields.get("subject", "").strip()
    if _REPORT_SUBJECT.match(subject):  # at the start: a forwarded bounce ("Fw: …") is a person's
        return True
    sender = f"{fields.get('from', '')} {fields.get('return-path', '')}"
    robot = bool(_ROBOT_SENDERS.search(sender)) or fields.get("return-path", "").strip() == "<>"
    return robot  # RFC 3464 §2: reports come from the null sender or the mailer daemon


def bounced_recipients(message: EmailMessage) -> tuple[str, ...]:
    """The recipients a bounce reports as failed, lower case, in the order given."""
    found = _dsn_recipients(message)
    if not found:
        found = _failed_recipients_header(message)
    if not found:
        found = _detected_recipients(message)
    if not found:
        found = _addresses_in_notice(message)
    return tuple(dict.fromkeys(address.lower() for address in found))


def _dsn_recipients(message: Message) -> list[str]:
    found: list[str] = []
    for part in message.walk():
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
    found = [*permanent, *temporary]
    return [a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in found]


# Where the returned original message starts in a plain-text bounce (qmail, Exim, Sendmail…).
_ORIGINAL_STARTS = re.compile(
    r"^(?:-+ ?(?:This is a copy|Original message|Below this line|The header of the original|"
    r"Returned message|Undelivered message|Unsent message)|-+ ?Original|Received: |"
    r"Return-Path: |Message-ID: )",
    re.IGNORECASE | re.MULTILINE,
)
_ROBOT_ADDRESS = re.compile(r"^(?:mailer-daemon|postmaster|double-bounce|noreply|no-reply)@", re.I)
_TO_LINE = re.compile(r"^To:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def _addresses_in_notice(message: Message) -> list[str]:
    """A bounce in no known format: the addresses its notice names, above the returned
    message, that are not the robots' or the bounce's own; when the returned message shows its
    To:, only those among them."""
    notice, original = _notice_and_original(message)
    own = {a.lower() for field in ("From", "To", "Cc", "Reply-To") for a in _field(message, field)}
    named = [
        a
        for a in dict.fromkeys(_ADDRESS.findall(notice))
        if a.lower() not in own and not _ROBOT_ADDRESS.match(a)
    ]
    named = [a.strip(".>]") for a in named if not a.lower().startswith(("http", "mailto"))]
    original_to = {a.lower() for line in _TO_LINE.findall(original) for a in _ADDRESS.findall(line)}
    confirmed = [a for a in named if a.lower() in original_to]
    return confirmed or named[:5]


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
        return str(inner[0]) if isinstance(inner, list) and inner else ""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "replace")
    return str(part.get_payload())
