"""[microsoft] (escalations, the app's Entra ID credentials, the endpoints) and [directory] (the
customer file that `gatewayd customers sync` writes, read here like [[customers]])."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.config.model import DirectorySettings, Microsoft
from gateway.config.people import read_customer
from gateway.config.values import (
    Table,
    parse_address,
    parse_domain,
    parse_duration,
    positive_duration,
)
from routing.directory import Customer


def read_microsoft(t: Table, base: Path) -> Microsoft:
    microsoft = Microsoft(
        escalation_address=t.get("escalation_address", parse_address, None),
        reply_domains=t.list("reply_domains", parse_domain, ("microsoft.com",)),
        escalation=t.choice("escalation", ("email", "partner_center"), "email"),
        tenant_id=t.str("tenant_id", "").strip(),
        client_id=t.str("client_id", "").strip(),
        client_secret=t.str("client_secret", ""),
        certificate_file=t.path_value("certificate_file", base),
        certificate_password=t.str("certificate_password", ""),
        token_file=t.path_value("token_file", base) or base / "var" / "microsoft-token.json",
        authority=t.get("authority", _https_url, "https://login.microsoftonline.com"),
        partner_center_url=t.get(
            "partner_center_url", _https_url, "https://api.partnercenter.microsoft.com"
        ),
        graph_url=t.get("graph_url", _https_url, "https://graph.microsoft.com"),
        exchange_scope=t.str("exchange_scope", "https://outlook.office365.com/.default"),
        ca_file=t.path_value("ca_file", base),
        poll=t.get("poll", positive_duration, timedelta(minutes=10)),
        support_topics=t.get("support_topics", _topics, ()),
        give_up_after=t.get("give_up_after", parse_duration, timedelta(days=1)),
        retry_initial=t.get("retry_initial", positive_duration, timedelta(seconds=30)),
        retry_max=t.get("retry_max", positive_duration, timedelta(hours=1)),
        timeout=t.get("timeout", positive_duration, timedelta(seconds=30)),
        locale=t.str("locale", "en-US"),
    )
    _check(t, microsoft)
    t.finish()
    return microsoft


def _check(t: Table, microsoft: Microsoft) -> None:
    if microsoft.client_secret and microsoft.certificate_file:
        t.problems.append(f"{t.key('client_secret')}: give client_secret or certificate_file")
    if microsoft.certificate_file and not microsoft.certificate_file.is_file():
        t.problems.append(f"{t.key('certificate_file')}: no such file")
    if microsoft.ca_file and not microsoft.ca_file.is_file():
        t.problems.append(f"{t.key('ca_file')}: no such file")
    if microsoft.escalation == "partner_center":
        wanted = [k for k in ("tenant_id", "client_id") if not getattr(microsoft, k)]
        wanted += [] if microsoft.escalation_address else ["escalation_address"]
        for key in wanted:
            why = "the e-mail fallback" if key == "escalation_address" else "the sign-in"
            t.problems.append(
                f'{t.key(key)}: is required with escalation = "partner_center" ({why})'
            )


def _https_url(value: Any) -> str:
    if (
        not isinstance(value, str)
        or urlsplit(value).scheme != "https"
        or not urlsplit(value).netloc
    ):
        raise ValueError(f"must be an https:// URL, got {value!r}")
    return value.rstrip("/")


def _topics(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ValueError('must be a table such as { "Service unavailable" = "32569836" }')
    topics = []
    for category, topic in value.items():
        if isinstance(topic, bool) or not isinstance(topic, str | int) or not str(topic).strip():
            raise ValueError(f"{category!r}: must be a SupportTopicId, got {topic!r}")
        topics.append((str(category), str(topic).strip()))
    return tuple(topics)


def check_sign_in(problems: list[str], microsoft: Microsoft, auths: list[tuple[str, str]]) -> None:
    """`auth = "microsoft"` in [[imap]] or [outbound] needs the app's credentials."""
    for key, auth in auths:
        if auth == "microsoft" and not microsoft.signs_in:
            problems.append(
                f'{key}: auth = "microsoft" needs microsoft.tenant_id, microsoft.client_id and '
                "microsoft.client_secret or microsoft.certificate_file"
            )


def read_directory(t: Table, base: Path) -> DirectorySettings:
    settings = DirectorySettings(
        file=t.path_value("file", base),
        billing=t.choice("billing", ("direct", "indirect"), "direct"),
        provider=t.str("provider", ""),
        sync=t.get("sync", positive_duration, None),
    )
    if settings.billing == "indirect" and not settings.provider:
        t.problems.append(f'{t.key("provider")}: is required with billing = "indirect"')
    t.finish()
    return settings


def generated_customers(
    settings: DirectorySettings, party_ids: set[str], problems: list[str]
) -> tuple[Customer, ...]:
    """The customers of the generated file, validated like those of config.toml; a file not
    written yet has none."""
    if settings.file is None:
        return ()
    where = "directory.file"
    try:
        data = tomllib.loads(settings.file.read_text())
    except FileNotFoundError:
        return ()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{where}: {settings.file} cannot be read: {exc}")
        return ()
    return tuple(read_customer(t, party_ids) for t in _entries(data, problems))


def _entries(data: dict[str, Any], problems: list[str]) -> list[Table]:
    extra = sorted(set(data) - {"customers"})
    if extra:
        problems.append(f"directory.file: only [[customers]] may be in it, not {extra[0]!r}")
    entries = data.get("customers", [])
    if not isinstance(entries, list):
        problems.append("directory.file: customers must be an array of tables")
        return []
    return [
        Table(entry, f"directory.file: customers[{i}]", problems) for i, entry in enumerate(entries)
    ]


def merge_customers(
    by_hand: tuple[Customer, ...], generated: tuple[Customer, ...]
) -> tuple[Customer, ...]:
    """A customer written in config.toml wins over a generated one of the same id, tenant or
    domain (the sync leaves those out; a file edited since may not)."""
    ids = {c.id for c in by_hand}
    tenants = {c.tenant.lower() for c in by_hand if c.tenant}
    domains = {d.lower() for c in by_hand for d in c.domains}
    kept = [
        c
        for c in generated
        if c.id not in ids
        and (not c.tenant or c.tenant.lower() not in tenants)
        and not domains & {d.lower() for d in c.domains}
    ]
    return (*by_hand, *kept)
