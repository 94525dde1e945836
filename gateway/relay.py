"""Transports for outgoing mail: an SMTP smarthost or a local maildir. Nothing else sends mail."""

from __future__ import annotations

import mailbox
import smtplib
import ssl
from collections.abc import Sequence
from typing import Protocol

from gateway.config import Outbound


class TemporaryDeliveryError(Exception):
    """Try again later: the relay is down, busy, or answered 4xx."""


class PermanentDeliveryError(Exception):
    """The relay refused the message for good (5xx)."""


class Relay(Protocol):
    def deliver(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> None: ...


class SmtpRelay:
    def __init__(self, settings: Outbound, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout

    def deliver(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> None:
        try:
            with smtplib.SMTP(self.settings.host, self.settings.port, timeout=self.timeout) as smtp:
                self._prepare(smtp)
                refused = smtp.sendmail(envelope_from, list(recipients), data)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _by_code(min(code for code, _ in exc.recipients.values()), exc) from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, exc) from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise TemporaryDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if refused:
            # Some recipients took it, some refused: a retry would duplicate the accepted ones.
            raise PermanentDeliveryError(f"refused recipients: {refused}")

    def _prepare(self, smtp: smtplib.SMTP) -> None:
        if self.settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if self.settings.username:
            smtp.login(self.settings.username, self.settings.password)


def _by_code(code: int, exc: Exception) -> Exception:
    text = f"{code} {exc}"
    return PermanentDeliveryError(text) if 500 <= code < 600 else TemporaryDeliveryError(text)


class MaildirRelay:
    """Writes each message into a maildir: for trying the gateway without a mail server."""

    def __init__(self, path: str) -> None:
        self.path = path

    def deliver(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> None:
        try:
            envelope = (
                f"X-Envelope-From: {envelope_from}\r\nX-Envelope-To: {', '.join(recipients)}\r\n"
            )
            mailbox.Maildir(self.path, create=True).add(envelope.encode() + data)
        except OSError as exc:
            raise TemporaryDeliveryError(f"maildir {self.path}: {exc.strerror}") from exc


def relay_for(settings: Outbound) -> Relay:
    if settings.maildir is not None:
        return MaildirRelay(str(settings.maildir))
    return SmtpRelay(settings)
