"""The sections about the gateway itself: partner, support, storage, smtp, imap, outbound and
microsoft."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway.config.model import (
    LANGUAGES,
    Imap,
    Outbound,
    Partner,
    Smtp,
    Storage,
    Support,
)
from gateway.config.operations import read_dkim_key
from gateway.config.values import (
    Table,
    identifier_value,
    parse_address,
    parse_domain,
    parse_duration,
    parse_host_port,
    parse_size,
    zone_value,
)

# "microsoft": app-only Entra ID sign-in with the [microsoft] credentials
# (gateway/auth/microsoft.py)
AUTH = ("password", "xoauth2", "microsoft")


def read_partner(t: Table, base: Path, create_secret: bool) -> Partner:
    secret_text = t.str("secret", "")
    secret_file = t.path_value("secret_file", base)
    if secret_text and secret_file:
        t.problems.append(f"{t.key('secret')}: give either secret or secret_file, not both")
    elif secret_file:
        secret_text = _read_secret_file(secret_file, create_secret, t)
    elif not secret_text:
        t.problems.append(f"{t.key('secret')}: is required (or secret_file)")
    if secret_text and len(secret_text) < 16:
        t.problems.append(f"{t.key('secret')}: must be at least 16 characters long")
    partner = Partner(
        name=t.str("name"),
        address=t.get("address", parse_address),
        domains=t.list("domains", parse_domain),
        ticket_tag=t.get("ticket_tag", _ticket_tag),
        secret=secret_text.encode(),
        secret_file=secret_file,
        language=t.choice("language", LANGUAGES, "en"),
    )
    if not partner.domains:
        t.problems.append(f"{t.key('domains')}: must name at least one domain")
    elif partner.address and partner.address.partition("@")[2] not in partner.domains:
        t.problems.append(f"{t.key('address')}: its domain must be one of partner.domains")
    t.finish()
    return partner


def _read_secret_file(path: Path, create: bool, t: Table) -> str:
    # The key is made on first start so `make run` works from a fresh clone without a secret in git.
    if not path.exists():
        if not create:
            return "x" * 32  # check-config: the daemon will create it on start
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    try:
        return path.read_text().strip()
    except OSError as exc:
        t.problems.append(f"{t.key('secret_file')}: cannot be read: {exc.strerror}")
        return ""


def _ticket_tag(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,19}", value):
        raise ValueError(
            f"must be 1-20 letters, digits or '-', starting with a letter; got {value!r}"
        )
    return value


def read_support(t: Table) -> Support:
    support = Support(
        hours=t.str("hours", "Mon-Fri 09:00-17:00"),
        timezone=t.get("timezone", zone_value, "UTC"),
        contact=t.str("contact", ""),
        pricing=t.str("pricing", ""),
        first_response=t.get("first_response", parse_duration, timedelta(hours=4)),
        close_waiting_after=t.get("close_waiting_after", parse_duration, timedelta(days=7)),
        self_help=t.str("self_help", "https://support.microsoft.com"),
        acks_per_hour=t.int("acks_per_hour", 5),
        plan=t.get("plan", identifier_value, None),
        digest=t.bool("digest", True),
    )
    t.finish()
    return support


def read_storage(t: Table, base: Path) -> Storage:
    url = t.str("url", "sqlite:///var/gateway.db")
    t.finish()
    if url and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = "sqlite:///" + str(base / url.removeprefix("sqlite:///"))
    elif url and not url.startswith(("sqlite:", "postgresql")):
        t.problems.append(f"{t.key('url')}: must be a sqlite:/// or postgresql+psycopg:// URL")
    return Storage(url=url)


def read_smtp(t: Table) -> Smtp:
    host, port = t.get("listen", parse_host_port, ("127.0.0.1", 2525)) or ("", 0)
    max_size = t.get("max_size", parse_size, 25 * 10**6)
    timeout = t.get("timeout", parse_duration, timedelta(minutes=5))
    memory = t.get("memory", parse_size, 0)
    if timeout is not None and timeout < timedelta(seconds=30):
        t.problems.append(f"{t.key('timeout')}: must be at least 30s (RFC 5321 asks for 5m)")
    if memory and max_size and memory < max_size:
        t.problems.append(f"{t.key('memory')}: must hold one message of smtp.max_size at least")
    max_sessions = t.int("max_sessions", 500, minimum=1)
    per_ip = t.int("max_sessions_per_ip", 50, minimum=1)
    if max_sessions and per_ip and per_ip > max_sessions:
        t.problems.append(f"{t.key('max_sessions_per_ip')}: must not exceed smtp.max_sessions")
    t.finish()
    return Smtp(
        host=host,
        port=port,
        max_size=max_size,
        timeout=timeout,
        memory=memory,
        max_sessions=max_sessions,
        max_sessions_per_ip=per_ip,
    )


def read_imap(t: Table, base: Path) -> Imap:
    tls = t.bool("tls", True)
    auth = t.choice("auth", AUTH, "password")
    imap = Imap(
        name=t.get("name", identifier_value),
        host=t.str("host"),
        port=t.int("port", 993 if tls else 143, minimum=1),
        tls=tls,
        starttls=t.bool("starttls", False),
        username=t.str("username"),
        password=t.str("password", ""),
        auth=auth,
        token_command=t.str("token_command", ""),
        folder=t.str("folder", "INBOX"),
        ca_file=t.path_value("ca_file", base),
        done_folder=t.str("done_folder", "") or None,
        idle=t.bool("idle", True),
        poll=t.get("poll", parse_duration, timedelta(seconds=60)),
    )
    _check_auth(t, imap.auth, imap.password, imap.token_command)
    if imap.tls and imap.starttls:
        t.problems.append(f"{t.key('starttls')}: use either tls or starttls, not both")
    t.finish()
    return imap


def _check_auth(t: Table, auth: str, password: str, token_command: str) -> None:
    if auth == "xoauth2" and not token_command:
        t.problems.append(f'{t.key("token_command")}: is required with auth = "xoauth2"')


def read_outbound(t: Table, base: Path, partner_domain: str = "") -> Outbound:
    relay = t.str("relay", "maildir:var/outgoing")
    host, port, maildir = "", 0, None
    if relay and relay.startswith("maildir:"):
        maildir = base / relay.removeprefix("maildir:")
    elif relay:
        try:
            host, port = parse_host_port(relay)
        except ValueError as exc:
            t.problems.append(f'{t.key("relay")}: {exc}, or "maildir:PATH"')
    outbound = Outbound(
        relay=relay,
        host=host,
        port=port,
        maildir=maildir,
        starttls=t.bool("starttls", False),
        username=t.str("username", ""),
        password=t.str("password", ""),
        auth=t.choice("auth", AUTH, "password"),
        token_command=t.str("token_command", ""),
        give_up_after=t.get("give_up_after", parse_duration, timedelta(days=3)),
        retry_initial=t.get("retry_initial", parse_duration, timedelta(seconds=30)),
        retry_max=t.get("retry_max", parse_duration, timedelta(hours=1)),
        tls=t.bool("tls", False),
        ca_file=t.path_value("ca_file", base),
        dkim_key_file=t.path_value("dkim_key_file", base),
        dkim_selector=t.str("dkim_selector", ""),
    )
    dkim_key = read_dkim_key(t, outbound.dkim_key_file, outbound.dkim_selector, partner_domain)
    outbound = dataclasses.replace(outbound, dkim_key=dkim_key, dkim_domain=partner_domain)
    _check_auth(t, outbound.auth, outbound.password, outbound.token_command)
    if outbound.tls and outbound.starttls:
        t.problems.append(f"{t.key('starttls')}: use either tls or starttls, not both")
    if (outbound.tls or outbound.starttls or outbound.ca_file) and maildir is not None:
        t.problems.append(f"{t.key('relay')}: tls, starttls and ca_file need a host:port relay")
    t.finish()
    return outbound
