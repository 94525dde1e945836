"""Authentication-Results (RFC 8601): which checks the receiving MTA says passed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_COMMENT = re.compile(r"\([^()]*\)")
_PROPERTY = re.compile(r"([a-z]+)\.([a-z-]+)=(\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class Result:
    method: str  # dkim, dmarc, spf…
    result: str  # pass, fail, none…
    domain: str  # header.d for dkim, header.from for dmarc ("" when not given)


def results_of(header_values: Iterable[str], authserv_id: str) -> list[Result]:
    """Results stated by `authserv_id` only: any other host's header is not to be trusted
    (RFC 8601 §5: a sender can add Authentication-Results of its own)."""
    found: list[Result] = []
    for value in header_values:
        parts = [p.strip() for p in _COMMENT.sub("", value).split(";")]
        stated_by = parts[0].split()[0].lower() if parts[0] else ""
        if stated_by != authserv_id.lower():
            continue
        found.extend(result for part in parts[1:] if (result := _result(part)))
    return found


def _result(part: str) -> Result | None:
    method, sep, rest = part.partition("=")
    if not sep or not rest:
        return None
    outcome = rest.split()[0].lower()
    domain = ""
    for ptype, prop, value in _PROPERTY.findall(rest):
        if (ptype.lower(), prop.lower()) in (("header", "d"), ("header", "from")):
            domain = value.strip('"').lower()
    return Result(method.strip().lower(), outcome, domain)


def passes_for(results: Iterable[Result], domain: str) -> bool:
    """DKIM or DMARC passed for `domain` (or a parent the DKIM key belongs to)."""
    domain = domain.lower()
    for result in results:
        aligned = domain == result.domain or domain.endswith("." + result.domain)
        if result.method in ("dkim", "dmarc") and result.result == "pass" and aligned:
            return True
    return False


def trusted_header_values(headers: Sequence[tuple[str, str]]) -> list[str]:
    """The Authentication-Results fields above the first Received: field.

    A receiving MTA adds its results on top, at the moment it adds its own Received:; a
    sender's look-alike (same authserv-id, dkim=pass) comes below the Received: fields of
    every hop (RFC 8601 §5 and §7.1). A message that reaches the gateway without a
    Received: field came straight from the host that wrote its results."""
    found = []
    for name, value in headers:
        lower = name.lower()
        if lower == "received":
            break
        if lower == "authentication-results":
            found.append(value)
    return found
