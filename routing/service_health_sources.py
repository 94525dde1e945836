"""Service health incidents as they arrive: Microsoft Graph's service health issues and the
`[[known_issues]]` of config.toml, each turned into an `Incident` (routing/service_health.py).

`incidents_from_graph` takes the decoded JSON of `GET /admin/serviceAnnouncement/issues` (the
caller reads and decodes the `[service_health] file`) and never raises: an entry it cannot use
is left out with one problem naming it. `incidents_from_known_issues` takes the validated config
entries.

Apart from the matching because these are the shapes of the sources (Graph's field names and
statuses, the config's keys), which change when Graph or config.toml does, not when the matching
rule does.

Pure: no I/O, nothing from `gateway/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from routing.service_health import Incident, in_utc, words_of

# Graph statuses after which the service works again. A known issue whose admin sets one of these
# as its status is over too. Lower case: Graph writes camelCase ("serviceRestored").
RESOLVED_STATUSES = frozenset(
    {
        "resolved",
        "resolvedexternal",
        "servicerestored",
        "postincidentreviewpublished",
        "falsepositive",
    }
)

DEFAULT_STATUS = "investigating"  # as for [[known_issues]] without a status


def incidents_from_graph(data: object) -> tuple[list[Incident], list[str]]:
    """Graph service health issues → incidents, and one problem per entry that was left out.

    `data` is the decoded JSON of `GET /admin/serviceAnnouncement/issues`: `{"value": [...]}`, or
    the bare list. Never raises on bad input."""
    if isinstance(data, Mapping):
        entries, where = data.get("value"), "value"
        if not isinstance(entries, list):
            return [], ['value: missing or not a list (expected {"value": [...]} or a list)']
    elif isinstance(data, list):
        entries, where = data, ""
    else:
        return [], [f'expected {{"value": [...]}} or a list, got {type(data).__name__}']
    incidents: list[Incident] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        try:
            incidents.append(_graph_incident(entry))
        except ValueError as problem:
            problems.append(f"{where}[{index}]{problem}")
    return incidents, problems


def _graph_incident(entry: object) -> Incident:
    """One Graph issue; ValueError("<.field>: <why>") when it cannot be used."""
    if not isinstance(entry, Mapping):
        raise ValueError(f": not an object, got {type(entry).__name__}")
    ident, title = _text(entry, "id"), _text(entry, "title")
    service = _text(entry, "service", required=False)
    status = _text(entry, "status", required=False) or DEFAULT_STATUS
    is_resolved = entry.get("isResolved", False)
    if not isinstance(is_resolved, bool):
        raise ValueError(f".isResolved: must be true or false, got {is_resolved!r}")
    return Incident(
        id=ident,
        service=service,
        title=title,
        status=status,
        # Graph issues carry no words of their own. `impactDescription` is long prose, and
        # `feature`/`featureGroup` ("E-Mail and calendar access") are broad enough to match half
        # the mail, so only the service and the title, which name the product and what fails,
        # give words.
        words=words_of(f"{service} {title}"),
        start=_time(entry, "startDateTime"),
        end=_time(entry, "endDateTime"),
        resolved=is_resolved or status.lower() in RESOLVED_STATUSES,
    )


def _text(entry: Mapping[Any, Any], key: str, *, required: bool = True) -> str:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f".{key}: must be a string, got {value!r}")
    if not value or not value.strip():
        if required:
            raise ValueError(f": no {key}")
        return ""
    return value.strip()


def _time(entry: Mapping[Any, Any], key: str) -> datetime | None:
    value = entry.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return in_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise ValueError(f".{key}: not an ISO 8601 time, got {value!r}")


def incidents_from_known_issues(items: Iterable[Any]) -> list[Incident]:
    """`[[known_issues]]` (anything with id, service, title, status, words, until) → incidents.

    `until` is the end; a known issue has no start. Without words, they come from the service
    and the title as for Graph issues."""
    incidents = []
    for item in items:
        status = str(item.status or DEFAULT_STATUS)
        words = tuple(dict.fromkeys(w.strip().lower() for w in item.words if w.strip()))
        incidents.append(
            Incident(
                id=str(item.id),
                service=str(item.service or ""),
                title=str(item.title),
                status=status,
                words=words or words_of(f"{item.service or ''} {item.title}"),
                start=None,
                end=in_utc(item.until) if item.until is not None else None,
                resolved=status.lower() in RESOLVED_STATUSES,
            )
        )
    return incidents
