"""What `gatewayd customers sync` writes: the partner's customers from Partner Center as
`[[customers]]` of the generated customer file, and what changed since the last sync.

A customer written by hand in config.toml always wins: one with the same tenant, or sharing a
mail domain, is left out of the generated file (and said so). A customer gone from Partner
Center stays in the file, marked so, for its tickets still name it; removing it is the admin's
call. Ids stay as they were at the first sync, so tickets keep their customer. Pure: the caller
reads Partner Center and the files, and writes the result.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ID_LENGTH = 40


@dataclass(frozen=True)
class Listed:
    """A customer as Partner Center lists it."""

    tenant_id: str
    name: str
    domains: tuple[str, ...]  # the initial (onmicrosoft) domain first, then custom domains
    relationship: str


@dataclass(frozen=True)
class Known:
    """A customer already in the configuration: written by hand, or generated before."""

    id: str
    name: str
    tenant: str
    domains: tuple[str, ...]


@dataclass(frozen=True)
class Generated:
    id: str
    name: str
    tenant: str
    domains: tuple[str, ...]
    relationship: str
    gone: bool = False  # no longer listed by Partner Center


@dataclass(frozen=True)
class Plan:
    customers: tuple[Generated, ...]  # the generated file, in Partner Center's order
    changes: tuple[str, ...]  # one line each, for the admin

    @property
    def changed(self) -> bool:
        return any(line.startswith(("added", "updated")) for line in self.changes)


def plan(listed: Sequence[Listed], by_hand: Sequence[Known], generated: Sequence[Known]) -> Plan:
    taken_ids = {c.id for c in by_hand}
    previous = {c.tenant.lower(): c for c in generated if c.tenant}
    customers: list[Generated] = []
    changes: list[str] = []
    for customer in listed:
        hand = _written_by_hand(customer, by_hand)
        if hand is not None:
            changes.append(f"skipped {customer.name} ({customer.tenant_id}): {hand}")
            continue
        before = previous.pop(customer.tenant_id.lower(), None)
        ident = before.id if before else _new_id(customer.name, customer.tenant_id, taken_ids)
        taken_ids.add(ident)
        entry = Generated(
            ident, customer.name, customer.tenant_id, customer.domains, customer.relationship
        )
        customers.append(entry)
        changes.append(_change(entry, before))
    for gone in previous.values():  # in the file, no longer in Partner Center
        customers.append(Generated(gone.id, gone.name, gone.tenant, gone.domains, "", gone=True))
        changes.append(f"kept {gone.id}: no longer listed by Partner Center")
    return Plan(tuple(customers), tuple(changes))


def _written_by_hand(customer: Listed, by_hand: Iterable[Known]) -> str | None:
    domains = {d.lower() for d in customer.domains}
    for known in by_hand:
        if known.tenant and known.tenant.lower() in {customer.tenant_id.lower(), *domains}:
            return f"written by hand in config.toml as {known.id} (same tenant)"
        shared = sorted(domains & {d.lower() for d in known.domains})
        if shared:
            return f"written by hand in config.toml as {known.id} (shares {', '.join(shared)})"
    return None


def _change(entry: Generated, before: Known | None) -> str:
    if before is None:
        return f"added {entry.id}: {entry.name}, {', '.join(entry.domains) or 'no domains'}"
    what = []
    if before.name != entry.name:
        what.append(f"name {before.name!r} -> {entry.name!r}")
    if set(before.domains) != set(entry.domains):
        what.append(f"domains {', '.join(before.domains)} -> {', '.join(entry.domains)}")
    return f"updated {entry.id}: {'; '.join(what)}" if what else f"unchanged {entry.id}"


def _new_id(name: str, tenant: str, taken: set[str]) -> str:
    """A config id from the company name ("Fabrikam BV" -> "fabrikam-bv"), unique."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:ID_LENGTH].strip("-")
    base = base or f"tenant-{tenant.lower()[:8]}"
    ident, n = base, 2
    while ident in taken:
        ident, n = f"{base}-{n}", n + 1
    return ident
