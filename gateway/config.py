"""config.toml → one immutable, validated `Config`, or a `ConfigError` listing every problem.

Nothing else in the program reads the TOML file. Each problem names the key path the admin has to
fix (`customers[1].billing: must be "direct" or "indirect", got "dirct"`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from email_validator import EmailNotValidError, validate_email

from routing.conditions import CONDITIONS, OPTIONS, Names, OptionError
from routing.conditions import prepare as prepare_condition
from routing.directory import Agent, Customer, Directory, Party, uncovered
from routing.permissions import ROLES as PERMISSION_ROLES

T = TypeVar("T")

ROLES = PERMISSION_ROLES  # routing/permissions.py: each includes the one before it
LANGUAGES = ("en", "nl")
WHEN_KEYS = frozenset(CONDITIONS) | frozenset(OPTIONS)  # as routing/conditions.py registers
THEN_KEYS = frozenset({"action", "queue", "party", "category", "reply", "priority"})
ACTIONS = ("handle", "escalate", "forward")
PRIORITIES = ("low", "normal", "high", "urgent")


class ConfigError(Exception):
    """The config cannot be used; `problems` holds one line per problem."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


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


@dataclass(frozen=True)
class Storage:
    url: str


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    max_size: int
    timeout: timedelta  # of each command and of the whole DATA phase
    memory: int  # bytes of message data held at once; 0: gateway/smtp_data.py's default
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


@dataclass(frozen=True)
class Microsoft:
    escalation_address: str | None
    reply_domains: tuple[str, ...]


@dataclass(frozen=True)
class KnownIssue:
    id: str
    service: str
    title: str
    status: str
    words: tuple[str, ...]
    until: datetime | None


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple[tuple[str, Any], ...]
    then: tuple[tuple[str, Any], ...]


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
    # Signed reply addresses older than this are answerable only from the agent's own envelope.
    reply_address_lifetime: timedelta = timedelta(days=90)
    warnings: tuple[str, ...] = ()  # usable, but probably not what the admin meant

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


# --- value parsers: each takes the raw value and returns the typed one or raises ValueError ---

_DURATION_PART = re.compile(r"(\d+)\s*([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KIB|MIB|GIB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_duration(value: object) -> timedelta:
    """'90s', '15m', '4h', '3d', '1w' or a sum such as '1h30m'."""
    if not isinstance(value, str):
        raise ValueError(f'must be a duration such as "15m", got {value!r}')
    text = value.strip().lower()
    parts = _DURATION_PART.findall(text)
    if not parts or _DURATION_PART.sub("", text).strip():
        raise ValueError(f'must be a duration such as "90s", "15m", "4h" or "3d", got {value!r}')
    return timedelta(seconds=sum(int(n) * _DURATION_UNITS[u] for n, u in parts))


def parse_size(value: object) -> int:
    """'25MB' (decimal units, as mail size limits are usually quoted) or '25MiB'; bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'must be a size such as "25MB", got {value!r}')
    return int(float(match[1]) * _SIZE_UNITS[(match[2] or "B").upper()])


def parse_address(value: object) -> str:
    """An email address, checked for syntax only (no DNS: the gateway may run offline)."""
    if not isinstance(value, str):
        raise ValueError(f"must be an email address, got {value!r}")
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid address: {exc}") from None


def parse_domain(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a domain name, got {value!r}")
    try:
        address = validate_email(f"postmaster@{value}", check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid domain: {exc}") from None
    return address.domain.lower()


def parse_host_port(value: object) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ValueError(f'must be "host:port", got {value!r}')
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'must be "host:port" with a port from 1 to 65535, got {value!r}')
    return host, int(port)


def expand_env(value: Any, path: str, problems: list[str]) -> Any:
    """Replace ${NAME} in every string by the environment variable NAME."""
    if isinstance(value, dict):
        return {k: expand_env(v, f"{path}.{k}" if path else k, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> str:
        name = match[1]
        if name not in os.environ:
            problems.append(f"{path}: environment variable {name} is not set")
            return ""
        return os.environ[name]

    return _ENV.sub(lookup, value)


# --- table reader: collects problems instead of stopping at the first ---

_MISSING = object()


class Table:
    """One TOML table being read; every key taken is remembered so leftovers can be reported."""

    def __init__(self, data: Any, path: str, problems: list[str]) -> None:
        if data is not None and not isinstance(data, dict):
            problems.append(f"{path}: must be a table, got {type(data).__name__}")
            data = {}
        self.data: dict[str, Any] = data or {}
        self.path = path
        self.problems = problems
        self.taken: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, convert: Callable[[Any], T], default: Any = _MISSING) -> T:
        self.taken.add(name)
        if name not in self.data:
            if default is _MISSING:
                self.problems.append(f"{self.key(name)}: is required")
                return None  # type: ignore[return-value]
            return default  # type: ignore[no-any-return]
        try:
            return convert(self.data[name])
        except ValueError as exc:
            self.problems.append(f"{self.key(name)}: {exc}")
            return None  # type: ignore[return-value]

    def str(self, name: str, default: Any = _MISSING) -> str:
        return self.get(name, _text, default)

    def bool(self, name: str, default: bool) -> bool:
        return self.get(name, _boolean, default)

    def int(self, name: str, default: Any = _MISSING, minimum: int = 0) -> int:
        return self.get(name, lambda v: _integer(v, minimum), default)

    def list(self, name: str, item: Callable[[Any], T], default: Any = ()) -> tuple[T, ...]:
        self.taken.add(name)
        value = self.data.get(name, _MISSING)
        if value is _MISSING:
            return default  # type: ignore[no-any-return]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.problems.append(f"{self.key(name)}: must be a list, got {value!r}")
            return ()
        out = []
        for i, raw in enumerate(value):
            try:
                out.append(item(raw))
            except ValueError as exc:
                self.problems.append(f"{self.key(name)}[{i}]: {exc}")
        return tuple(out)

    def choice(self, name: str, choices: tuple[str, ...], default: Any = _MISSING) -> str:
        def check(value: Any) -> str:
            if value not in choices:
                wanted = " or ".join(f'"{c}"' for c in choices)
                raise ValueError(f"must be {wanted}, got {value!r}")
            return str(value)

        return self.get(name, check, default)

    def path_value(self, name: str, base: Path) -> Path | None:
        text = self.str(name, "")
        return (base / text) if text else None

    def table(self, name: str) -> Table:
        self.taken.add(name)
        return Table(self.data.get(name), self.key(name), self.problems)

    def tables(self, name: str) -> Iterator[Table]:
        self.taken.add(name)
        value = self.data.get(name, [])
        if not isinstance(value, list):
            self.problems.append(f"{self.key(name)}: must be an array of tables ([[{name}]])")
            return
        for i, item in enumerate(value):
            yield Table(item, f"{self.key(name)}[{i}]", self.problems)

    def finish(self) -> None:
        for extra in sorted(set(self.data) - self.taken):
            self.problems.append(f"{self.key(extra)}: unknown key")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _integer(value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"must be a whole number of at least {minimum}, got {value!r}")
    return value


def _identifier(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", value):
        raise ValueError(f"must be a lower-case id (letters, digits, - _ .), got {value!r}")
    return value


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f'must be an ISO 8601 time such as "2026-12-01T00:00:00Z", got {value!r}')


# --- sections ---


def _partner(t: Table, base: Path, create_secret: bool) -> Partner:
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


def _support(t: Table) -> Support:
    support = Support(
        hours=t.str("hours", "Mon-Fri 09:00-17:00"),
        timezone=t.get("timezone", _zone, "UTC"),
        contact=t.str("contact", ""),
        pricing=t.str("pricing", ""),
        first_response=t.get("first_response", parse_duration, timedelta(hours=4)),
        close_waiting_after=t.get("close_waiting_after", parse_duration, timedelta(days=7)),
        self_help=t.str("self_help", "https://support.microsoft.com"),
        acks_per_hour=t.int("acks_per_hour", 5),
    )
    t.finish()
    return support


def _zone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(_text(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"is not a known time zone such as Europe/Amsterdam: {value!r}") from None
    return str(value)


def _storage(t: Table, base: Path) -> Storage:
    url = t.str("url", "sqlite:///var/gateway.db")
    t.finish()
    if url and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = "sqlite:///" + str(base / url.removeprefix("sqlite:///"))
    elif url and not url.startswith(("sqlite:", "postgresql")):
        t.problems.append(f"{t.key('url')}: must be a sqlite:/// or postgresql+psycopg:// URL")
    return Storage(url=url)


def _smtp(t: Table) -> Smtp:
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


def _imap(t: Table, base: Path) -> Imap:
    tls = t.bool("tls", True)
    auth = t.choice("auth", ("password", "xoauth2"), "password")
    imap = Imap(
        name=t.get("name", _identifier),
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


def _outbound(t: Table, base: Path) -> Outbound:
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
        auth=t.choice("auth", ("password", "xoauth2"), "password"),
        token_command=t.str("token_command", ""),
        give_up_after=t.get("give_up_after", parse_duration, timedelta(days=3)),
        retry_initial=t.get("retry_initial", parse_duration, timedelta(seconds=30)),
        retry_max=t.get("retry_max", parse_duration, timedelta(hours=1)),
        tls=t.bool("tls", False),
        ca_file=t.path_value("ca_file", base),
    )
    _check_auth(t, outbound.auth, outbound.password, outbound.token_command)
    if outbound.tls and outbound.starttls:
        t.problems.append(f"{t.key('starttls')}: use either tls or starttls, not both")
    if (outbound.tls or outbound.starttls or outbound.ca_file) and maildir is not None:
        t.problems.append(f"{t.key('relay')}: tls, starttls and ca_file need a host:port relay")
    t.finish()
    return outbound


def _microsoft(t: Table) -> Microsoft:
    microsoft = Microsoft(
        escalation_address=t.get("escalation_address", parse_address, None),
        reply_domains=t.list("reply_domains", parse_domain, ("microsoft.com",)),
    )
    t.finish()
    return microsoft


def _party(t: Table) -> Party:
    party = Party(
        id=t.get("id", _identifier),
        name=t.str("name"),
        address=t.get("address", parse_address),
    )
    t.finish()
    return party


def _customer(t: Table, party_ids: set[str]) -> Customer:
    customer = Customer(
        id=t.get("id", _identifier),
        name=t.str("name"),
        domains=t.list("domains", parse_domain),
        addresses=t.list("addresses", parse_address),
        tenant=t.str("tenant", ""),
        billing=t.choice("billing", ("direct", "indirect")),
        provider=t.str("provider", "") or None,
        direct_microsoft=t.bool("direct_microsoft", False),
        language=t.choice("language", LANGUAGES, "en"),
        language_given="language" in t.data,
    )
    if customer.billing == "indirect" and not customer.provider:
        t.problems.append(f'{t.key("provider")}: is required with billing = "indirect"')
    if customer.provider and customer.provider not in party_ids:
        t.problems.append(f"{t.key('provider')}: no [[parties]] entry has id {customer.provider!r}")
    if not customer.domains and not customer.addresses:
        t.problems.append(
            f"{t.key('domains')}: give domains or addresses to recognise the customer"
        )
    t.finish()
    return customer


def _agent(t: Table, customer_ids: set[str], partner_language: str) -> Agent:
    agent = Agent(
        address=t.get("address", parse_address),
        name=t.str("name", ""),
        roles=t.list("roles", lambda v: _one_of(v, ROLES), ("helpdesk-agent",)),
        customers=t.list("customers", _text, ("*",)),
        queues=t.list("queues", _identifier, ("helpdesk",)),
        language=t.choice("language", LANGUAGES, partner_language or "en"),
    )
    for i, customer_id in enumerate(agent.customers):
        if customer_id != "*" and customer_id not in customer_ids:
            t.problems.append(
                f"{t.key('customers')}[{i}]: no [[customers]] entry has id {customer_id!r}"
            )
    t.finish()
    return agent


def _one_of(value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError("must be one of " + ", ".join(choices) + f"; got {value!r}")
    return str(value)


def _known_issue(t: Table) -> KnownIssue:
    issue = KnownIssue(
        id=t.str("id"),
        service=t.str("service", ""),
        title=t.str("title"),
        status=t.str("status", "investigating"),
        words=t.list("words", _text),
        until=t.get("until", _timestamp, None),
    )
    t.finish()
    return issue


def _rule(t: Table, names: Names) -> Rule:
    name = t.str("name")
    when, then = t.table("when"), t.table("then")
    prepared = []
    options = {key: value for key, value in when.data.items() if key in OPTIONS}
    for key in options:
        if OPTIONS[key] not in when.data:
            t.problems.append(
                f"{when.key(key)}: is an option of {OPTIONS[key]}, which is not given"
            )
    for key, value in when.data.items():
        if key in options:
            continue
        if key not in WHEN_KEYS:
            known = ", ".join(sorted(WHEN_KEYS))
            t.problems.append(f"{when.key(key)}: unknown condition; known: {known}")
            continue
        own = {option: v for option, v in options.items() if OPTIONS[option] == key}
        try:
            prepared.append((key, prepare_condition(key, value, names, own)))
        except OptionError as exc:
            t.problems.append(f"{when.key(exc.key)}: {exc}")
        except ValueError as exc:
            t.problems.append(f"{when.key(key)}: {exc}")
    _then(then, names)
    t.finish()
    return Rule(name=name, when=tuple(prepared), then=_frozen(then.data))


def _then(then: Table, names: Names) -> None:
    for key in sorted(set(then.data) - THEN_KEYS):
        then.problems.append(f"{then.key(key)}: unknown key; known: {', '.join(sorted(THEN_KEYS))}")
    action = then.choice("action", ACTIONS, "handle")
    then.get("queue", _identifier, "helpdesk")
    then.choice("priority", PRIORITIES, "normal")
    then.str("category", "")
    then.get("reply", _identifier, None)
    party = then.str("party", "")
    if action == "forward" and not party:
        then.problems.append(f'{then.key("party")}: is required with action = "forward"')
    elif party and party not in names.parties:
        then.problems.append(f"{then.key('party')}: no [[parties]] entry has id {party!r}")


def _frozen(table: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A rule's table as pairs, its lists as tuples, its tables read-only: Config is immutable."""

    def freeze(value: Any) -> Any:
        if isinstance(value, list):
            return tuple(freeze(v) for v in value)
        if isinstance(value, dict):
            return MappingProxyType({k: freeze(v) for k, v in value.items()})
        return value

    return tuple((key, freeze(value)) for key, value in table.items())


def _check_reply_templates(config: Config, problems: list[str]) -> None:
    from gateway.templates import SHIPPED

    folders = [SHIPPED / "en"] + (
        [config.templates_folder / "en"] if config.templates_folder else []
    )
    for i, rule in enumerate(config.rules):
        name = dict(rule.then).get("reply")
        if name and not any((folder / f"{name}.txt").exists() for folder in folders):
            problems.append(
                f"rules[{i}].then.reply: no template {name}.txt in en/ of the "
                "shipped templates or of templates.folder"
            )


def _check_rule_queues(config: Config, problems: list[str]) -> None:
    """A queue that no agent works in would swallow tickets unseen."""
    served = {"helpdesk"} | {queue for agent in config.agents for queue in agent.queues}
    for i, rule in enumerate(config.rules):
        queue = dict(rule.then).get("queue")
        if queue and queue not in served:
            problems.append(f"rules[{i}].then.queue: no [[agents]] entry works in queue {queue!r}")


def _unused_agent_queues(config: Config) -> list[str]:
    """An agent's queue that no rule sends tickets to is most likely a typo ("helpdsk"): its
    agents would never hear of a ticket through it."""
    used = {"helpdesk"} | {dict(rule.then).get("queue", "helpdesk") for rule in config.rules}
    return [
        f"agents[{i}].queues[{j}]: no rule and no default sends tickets to queue {queue!r}"
        for i, agent in enumerate(config.agents)
        for j, queue in enumerate(agent.queues)
        if queue not in used
    ]


def _uncovered_queues(config: Config) -> list[str]:
    """A queue and customer that no agent covers: its tickets go to the admin-agents."""
    queues = ["helpdesk", *(dict(rule.then).get("queue", "helpdesk") for rule in config.rules)]
    return [
        f"queue {queue!r}: no agent of it may act on customer {customer!r}; "
        "its tickets go to the admin-agents"
        for queue, customer in uncovered(queues, config.customers, config.agents)
    ]


def _unique(problems: list[str], section: str, values: list[str], what: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            problems.append(f"{section}[{i}].{what}: {value!r} is used twice")
        seen.add(value)


def build_config(data: dict[str, Any], path: Path, create_secret: bool = False) -> Config:
    problems: list[str] = []
    data = expand_env(data, "", problems)
    base = path.parent
    root = Table(data, "", problems)
    parties = tuple(_party(t) for t in root.tables("parties"))
    customers = tuple(_customer(t, {p.id for p in parties}) for t in root.tables("customers"))
    names = Names(frozenset(c.id for c in customers), frozenset(p.id for p in parties))
    sections = {
        name: root.table(name) for name in ("escalation", "service_health", "security", "templates")
    }
    escalation, security = sections["escalation"], sections["security"]
    partner = _partner(root.table("partner"), base, create_secret)
    config = Config(
        path=path,
        partner=partner,
        support=_support(root.table("support")),
        storage=_storage(root.table("storage"), base),
        smtp=_smtp(root.table("smtp")) if "smtp" in data else None,
        imap=tuple(_imap(t, base) for t in root.tables("imap")),
        outbound=_outbound(root.table("outbound"), base),
        microsoft=_microsoft(root.table("microsoft")),
        parties=parties,
        customers=customers,
        agents=tuple(
            _agent(t, {c.id for c in customers}, partner.language) for t in root.tables("agents")
        ),
        known_issues=tuple(_known_issue(t) for t in root.tables("known_issues")),
        service_health_file=sections["service_health"].path_value("file", base),
        cluster_after=escalation.int("cluster_after", 3, minimum=1),
        cluster_window=escalation.get("cluster_window", parse_duration, timedelta(minutes=30)),
        trusted_authserv_id=security.str("trusted_authserv_id", ""),
        templates_folder=sections["templates"].path_value("folder", base),
        rules=tuple(_rule(t, names) for t in root.tables("rules")),
        reply_address_lifetime=security.get(
            "reply_address_lifetime", _positive_duration, timedelta(days=90)
        ),
    )
    for section in sections.values():
        section.finish()
    root.finish()
    _check_reply_templates(config, problems)
    _check_rule_queues(config, problems)
    _unique(problems, "customers", [c.id for c in customers], "id")
    _unique(problems, "parties", [p.id for p in parties], "id")
    _unique(problems, "agents", [a.address for a in config.agents], "address")
    _unique(problems, "imap", [m.name for m in config.imap], "name")
    if problems:
        raise ConfigError(path, problems)
    warnings = [*_unused_agent_queues(config), *_uncovered_queues(config)]
    return dataclasses.replace(config, warnings=tuple(warnings))


def _positive_duration(value: Any) -> timedelta:
    duration = parse_duration(value)
    if duration <= timedelta(0):
        raise ValueError(f"must be longer than 0s, got {value!r}")
    return duration


def load_config(path: Path | str, create_secret: bool = False) -> Config:
    """Read and validate the config file; raises ConfigError naming every problem."""
    path = Path(path).absolute()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(path, [f"cannot be read: {exc.strerror}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"is not valid TOML: {exc}"]) from None
    return build_config(data, path, create_secret)
