"""Transports for outgoing mail: an SMTP smarthost or a local maildir. Nothing else sends mail."""

from __future__ import annotations

import mailbox
import smtplib
import ssl
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from gateway.auth.tokens import TokenError
from gateway.config import Microsoft, Outbound
from gateway.delivery import dkim

if TYPE_CHECKING:
    from gateway.auth.microsoft import TokenSource


class TemporaryDeliveryError(Exception):
    """Try again later: the relay is down, busy, or answered 4xx."""


class PermanentDeliveryError(Exception):
    """The relay refused the message for good (5xx)."""


class Relay(Protocol):
    def deliver(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> None: ...


class SmtpRelay:
    def __init__(
        self, settings: Outbound, timeout: float = 30.0, token: TokenSource | None = None
    ) -> None:
        from gateway.auth.sources import mail_token

        self.settings = settings
        self.timeout = timeout
        self._token = token or mail_token(settings.auth, settings.token_command, "outbound", None)

    def deliver(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> None:
        try:
            with self._connect() as smtp:
                self._prepare(smtp)
                # RFC 6531: a non-ASCII address (whose local part is, see wire.wire_address)
                # goes only with SMTPUTF8; smtplib refuses when the relay does not offer it.
                utf8 = not all(a.isascii() for a in [envelope_from, *recipients])
                options = ["SMTPUTF8"] if utf8 else []
                refused = smtp.sendmail(envelope_from, list(recipients), data, options)
        except smtplib.SMTPNotSupportedError as exc:  # that relay will not learn SMTPUTF8
            raise PermanentDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise _by_code(min(code for code, _ in exc.recipients.values()), exc) from exc
        except smtplib.SMTPAuthenticationError as exc:
            # A wrong password or a revoked token is the admin's to fix, not the message's
            # fault: it waits in the outbox (RFC 4954's 535 is permanent for the session only).
            raise TemporaryDeliveryError(f"outbound: the relay refused our login: {exc}") from exc
        except TokenError as exc:
            raise TemporaryDeliveryError(str(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, exc) from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise TemporaryDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if refused:
            # Some recipients took it, some refused: a retry would duplicate the accepted ones.
            raise PermanentDeliveryError(f"refused recipients: {refused}")

    def _connect(self) -> smtplib.SMTP:
        host, port, timeout = self.settings.host, self.settings.port, self.timeout
        if self.settings.tls:  # SMTPS on 465: TLS from the first byte (RFC 8314 §3.3)
            return smtplib.SMTP_SSL(host, port, timeout=timeout, context=self._tls_context())
        return smtplib.SMTP(host, port, timeout=timeout)

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self.settings.ca_file
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def _prepare(self, smtp: smtplib.SMTP) -> None:
        if self.settings.starttls:
            smtp.starttls(context=self._tls_context())
        if self._token is not None:
            self._xoauth2(smtp, self._token)
        elif self.settings.username:
            smtp.login(self.settings.username, self.settings.password)

    def _xoauth2(self, smtp: smtplib.SMTP, token: TokenSource) -> None:
        """SASL XOAUTH2, as Exchange Online and Gmail take it: one fresh token more when the
        relay refuses the cached one (expired or revoked early)."""
        smtp.ehlo_or_helo_if_needed()
        try:
            smtp.auth("XOAUTH2", _xoauth2_response(self.settings.username, token.get()))
        except smtplib.SMTPAuthenticationError:
            token.invalidate()
            smtp.auth("XOAUTH2", _xoauth2_response(self.settings.username, token.get()))


def _xoauth2_response(username: str, token: str) -> Callable[..., str]:
    """The initial response of XOAUTH2; to the error challenge that follows a refusal, the
    client answers an empty line and the server then says 535."""

    def respond(challenge: bytes | None = None) -> str:
        return f"user={username}\x01auth=Bearer {token}\x01\x01" if challenge is None else ""

    return respond


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


class SigningRelay:
    """Signs each mail with DKIM (gateway/delivery/dkim.py), then hands it to `relay`."""

    def __init__(self, relay: Relay, selector: str, domain: str, key: bytes) -> None:
        self.relay = relay
        self.selector = selector
        self.domain = domain
        self._key = key

    def deliver(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> None:
        try:
            signed = dkim.sign(data, self.selector, self.domain, self._key)
        except dkim.SigningFailed as exc:  # it waits in the outbox, and its error says why
            raise TemporaryDeliveryError(f"DKIM signing failed: {exc}") from None
        self.relay.deliver(envelope_from, recipients, signed)


def relay_for(
    settings: Outbound,
    microsoft: Microsoft | None = None,
    on_problem: Callable[[str, str], None] | None = None,
) -> Relay:
    """`on_problem`: a sign-in that failed (auth = "microsoft"), for the admin-agents."""
    from gateway.auth.sources import mail_token

    transport: Relay
    if settings.maildir is not None:
        transport = MaildirRelay(str(settings.maildir))
    else:
        token = mail_token(settings.auth, settings.token_command, "outbound", microsoft, on_problem)
        transport = SmtpRelay(settings, token=token)
    if not settings.dkim_key:
        return transport
    return SigningRelay(transport, settings.dkim_selector, settings.dkim_domain, settings.dkim_key)
