"""What kind of sender wrote a message: a person, an auto-responder, a bounce, or a list.

The order matters: mailer daemons mark their bounces "Auto-Submitted: auto-replied" (Exim), and
auto-responders send from the null sender as RFC 3834 §3.3 asks, so each signal is asked where
it tells the two apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import EmailMessage

from parsers.bounces import is_report, robot_sender

_ROBOT_PRECEDENCE = {"bulk", "junk", "auto_reply"}
# Out-of-office subjects of Exchange/Outlook, Gmail, Apple and Zimbra in our customers' languages.
_AUTO_REPLY_SUBJECT = re.compile(
    r"^(?:(?:re|aw|sv|antw)\s*:\s*)?(?:automatic reply|auto[- ]?reply|autoreply|auto-response|"
    r"autorespons|out of (?:the )?office|away from (?:the )?office|vacation reply|"
    r"abwesenheitsnotiz|automatische antwort|abwesend|afwezig|automatisch antwoord|"
    r"niet aanwezig|réponse automatique|reponse automatique|absence|absent|"
    r"respuesta automática|respuesta automatica|fuera de la oficina|risposta automatica|"
    r"fuori ufficio|resposta automática|resposta automatica|ausente|autosvar|automatisk svar|"
    r"frånvaro|fravær|odpowiedź automatyczna|automatyczna odpowiedź|nieobecność|"
    r"自動応答|自動返信|不在)",
    re.IGNORECASE,
)


def classify(message: EmailMessage, headers: Sequence[tuple[str, str]]) -> str:
    """normal | auto_reply | bounce | list."""
    fields = {name.lower(): value.strip().lower() for name, value in reversed(headers)}
    if is_report(message, fields) or robot_sender(fields.get("from", "")):
        return "bounce"
    if _is_auto_reply(fields):
        return "auto_reply"
    if fields.get("return-path", "") == "<>":  # RFC 5321 §4.5.5: the null sender
        return "bounce"
    precedence = fields.get("precedence", "")
    if "list-id" in fields or precedence == "list":
        return "list"
    if precedence in _ROBOT_PRECEDENCE:
        return "auto_reply"
    return "normal"


def _is_auto_reply(fields: dict[str, str]) -> bool:
    # RFC 3834 §5: anything but "no" means a machine wrote it; a comment may follow the keyword.
    if _keyword(fields.get("auto-submitted", "no")) != "no":
        return True
    if "x-autoreply" in fields or "x-autorespond" in fields or "x-autoresponder" in fields:
        return True
    if fields.get("x-auto-response-suppress") and fields.get(
        "x-ms-exchange-generated-message-source"
    ):
        return True  # Exchange's Mailbox Rules Agent: out-of-office and rule replies
    return bool(_AUTO_REPLY_SUBJECT.match(fields.get("subject", "")))


def _keyword(value: str) -> str:
    return value.split("(", 1)[0].split(";", 1)[0].strip()
