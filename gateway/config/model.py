"""The validated configuration: immutable dataclasses, one per section."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from routing.conditions import CONDITIONS, OPTIONS
from routing.directory import Agent, Customer, Directory, Party
from routing.engine import Rule, Then
from routing.permissions import ROLES as PERMISSION_ROLES
from routing.plans import Plan

ROLES = PERMISSION_ROLES  # routing/permissions.py: each includes the one before it


LANGUAGES = ("en", "nl")


WHEN_KEYS = frozenset(CONDITIONS) | frozenset(OPTIONS)  # as routing/conditions.py registers


THEN_KEYS = frozenset(field.name for field in dataclasses.fields(Then))


ACTIONS = ("handle", "escalate", "forward")


PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class Partner:
    name: str
    address: str
    domains: tuple[str, ...]
    ticket_tag: str
    secret: bytes = field(repr=False)
    secret_file: Path | None
    language: str = "en"  # of mail to agents who name none


@dataclass(frozen=True)
class Support:
    hours: str
    timezone: str
    contact: str
    pricing: str
    first_response: timedelta
    close_waiting_after: timedelta
    self_help: str
    acks_per_hour: int
    plan: str | None = None  # the plan of customers that name none (support.plan)
    digest: bool = True  # each agent's digest at the start of service hours


DEFAULT_PLAN = "default"  # the plan made of [support] when there are no [[plans]]


@dataclass(frozen=True)
class Plans:
    plans: tuple[Plan, ...]
    default: str  # the plan of customers that name none
    written: bool = True  # false: no [[plans]], the one plan is made of [support]

    def get(self, plan_id: str | None) -> Plan:
        wanted = plan_id or self.default
        return next((p for p in self.plans if p.id == wanted), self.plans[0])

    def ids(self) -> set[str]:
        return {p.id for p in self.plans}


@dataclass(frozen=True)
class Storage:
    url: str


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    max_size: int
    timeout: timedelta  # of each command and of the whole DATA phase
    memory: int  # bytes of message data held at once; 0: gateway/intake/smtp_session.py's default
    max_sessions: int = 500  # sessions at once; more get 421 4.7.0
    max_sessions_per_ip: int = 50  # from one client address


@dataclass(frozen=True)
class Imap:
    name: str
    host: str
    port: int
    tls: bool
    starttls: bool
    username: str
    password: str = field(repr=False)
    auth: str
    token_command: str
    folder: str
    ca_file: Path | None
    done_folder: str | None
    idle: bool
    poll: timedelta


@dataclass(frozen=True)
class Outbound:
    relay: str
    host: str
    port: int
    maildir: Path | None
    starttls: bool
    username: str
    password: str = field(repr=False)
    auth: str
    token_command: str
    give_up_after: timedelta
    retry_initial: timedelta
    retry_max: timedelta
    tls: bool = False  # implicit TLS (SMTPS, port 465), RFC 8314
    ca_file: Path | None = None  # CA bundle for a smarthost with a private CA
    dkim_key_file: Path | None = None  # sign outgoing mail (gateway/delivery/dkim.py)
    dkim_selector: str = ""
    dkim_key: bytes = field(default=b"", repr=False)  # read and tried at load
    dkim_domain: str = ""  # d=: the partner address's, which every From: is


@dataclass(frozen=True)
class Metrics:
    """[metrics]: /metrics and /healthz (gateway/runtime/metrics.py)."""

    host: str
    port: int


@dataclass(frozen=True)
class Alerts:
    """[alerts]: when intake stalls (routing/alerts.py, gateway/runtime/alerts.py)."""

    stall_after: timedelta = timedelta(minutes=15)
    min_free_disk: int = 10**9


@dataclass(frozen=True)
class Microsoft:
    escalation_address: str | None
    reply_domains: tuple[str, ...]
    escalation: str = "email"  # or "partner_center" (gateway/delivery/service_requests.py)
    tenant_id: str = ""  # the partner's own Entra ID tenant
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    certificate_file: Path | None = None
    certificate_password: str = field(default="", repr=False)
    token_file: Path | None = None  # App+User refresh token kept by `gatewayd microsoft login`
    authority: str = "https://login.microsoftonline.com"
    partner_center_url: str = "https://api.partnercenter.microsoft.com"
    graph_url: str = "https://graph.microsoft.com"
    exchange_scope: str = "https://outlook.office365.com/.default"
    ca_file: Path | None = None
    poll: timedelta = timedelta(minutes=10)
    support_topics: tuple[tuple[str, str], ...] = ()  # escalation category -> SupportTopicId
    give_up_after: timedelta = timedelta(days=1)
    retry_initial: timedelta = timedelta(seconds=30)
    retry_max: timedelta = timedelta(hours=1)
    timeout: timedelta = timedelta(seconds=30)  # of each HTTP request
    locale: str = "en-US"  # Partner Center's agent locale and X-Locale

    @property
    def signs_in(self) -> bool:
        """The app's credentials are configured (app-only sign-in is possible)."""
        return bool(
            self.tenant_id and self.client_id and (self.client_secret or self.certificate_file)
        )


@dataclass(frozen=True)
class DirectorySettings:
    """[directory]: the customer file that `gatewayd customers sync` writes."""

    file: Path | None = None
    billing: str = "direct"  # of the customers written there
    provider: str = ""  # a [[parties]] id, with billing = "indirect"
    sync: timedelta | None = None  # a scheduled sync; None: only by hand


@dataclass(frozen=True)
class KnownIssue:
    id: str
    service: str
    title: str
    status: str
    words: tuple[str, ...]
    until: datetime | None


@dataclass(frozen=True)
class Config:
    path: Path
    partner: Partner
    support: Support
    storage: Storage
    smtp: Smtp | None
    imap: tuple[Imap, ...]
    outbound: Outbound
    microsoft: Microsoft
    parties: tuple[Party, ...]
    customers: tuple[Customer, ...]
    agents: tuple[Agent, ...]
    known_issues: tuple[KnownIssue, ...]
    service_health_file: Path | None
    cluster_after: int
    cluster_window: timedelta
    trusted_authserv_id: str
    templates_folder: Path | None
    rules: tuple[Rule, ...]
    plans: Plans  # [[plans]], or the one made of [support]
    # Signed reply addresses older than this are answerable only from the agent's own envelope.
    reply_address_lifetime: timedelta = timedelta(days=90)
    metrics: Metrics | None = None  # no [metrics] table: nothing listens
    alerts: Alerts = Alerts()
    warnings: tuple[str, ...] = ()  # usable, but probably not what the admin meant
    directory_settings: DirectorySettings = DirectorySettings()
    generated_customers: frozenset[str] = frozenset()  # ids read from [directory] file

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def customer(self, customer_id: str | None) -> Customer | None:
        return next((c for c in self.customers if c.id == customer_id), None)

    @functools.cached_property
    def directory(self) -> Directory:
        """Who is who, for routing/directory.py's decisions."""
        return Directory(
            partner_address=self.partner.address,
            customers=self.customers,
            agents=self.agents,
            parties=self.parties,
            upstream_domains=self.microsoft.reply_domains,
            microsoft_address=self.microsoft.escalation_address,
        )
