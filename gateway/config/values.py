"""Typed values from TOML, and `Table`, which walks a section and records each problem with its
key path.

Each value parser takes the raw value and returns the typed one or raises ValueError."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from email_validator import EmailNotValidError, validate_email

T = TypeVar("T")


class ConfigError(Exception):
    """The config cannot be used; `problems` holds one line per problem."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


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
        return self.get(name, text_value, default)

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


def text_value(value: Any) -> str:
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


def identifier_value(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", value):
        raise ValueError(f"must be a lower-case id (letters, digits, - _ .), got {value!r}")
    return value


def timestamp_value(value: Any) -> datetime:
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


def zone_value(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text_value(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"is not a known time zone such as Europe/Amsterdam: {value!r}") from None
    return str(value)


def one_of(value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError("must be one of " + ", ".join(choices) + f"; got {value!r}")
    return str(value)


def positive_duration(value: Any) -> timedelta:
    duration = parse_duration(value)
    if duration <= timedelta(0):
        raise ValueError(f"must be longer than 0s, got {value!r}")
    return duration
