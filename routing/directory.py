"""Who is who: the partner's customers, agents and parties, and the pure decisions about them.

Who wrote a message (a customer by address, then domain; an agent; Microsoft or a party; the
partner itself), which agents hear of a ticket, and where an escalation goes. gateway/config/
builds these from config.toml; nothing here reads a file or a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Party:
    """An indirect provider or a support subcontractor."""

    id: str
    name: str
    address: str


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    domains: tuple[str, ...]
    addresses: tuple[str, ...]
    tenant: str
    billing: str  # direct | indirect
    provider: str | None  # a Party id, for billing = "indirect"
    direct_microsoft: bool
    language: str
    language_given: bool = True  # false: the language of each mail decides, where templates exist
    plan: str | None = None  # a [[plans]] id; None: support.plan
    contact: str | None = None  # who gets statements and balance notices
    graph_tenant: bool = False  # its own tenant's service health is polled (GDAP consent)


@dataclass(frozen=True)
class Agent:
    address: str
    name: str
    roles: tuple[str, ...]
    customers: tuple[str, ...]
    queues: tuple[str, ...]
    language: str = "en"  # of the mail this agent gets

    def may_act_on(self, customer_id: str | None) -> bool:
        return "*" in self.customers or (customer_id is not None and customer_id in self.customers)


@dataclass(frozen=True)
class Directory:
    partner_address: str
    customers: tuple[Customer, ...]
    agents: tuple[Agent, ...]
    parties: tuple[Party, ...]
    upstream_domains: tuple[str, ...]  # microsoft.reply_domains
    microsoft_address: str | None  # microsoft.escalation_address


@dataclass(frozen=True)
class Author:
    """Who wrote a message (not to be confused with the mail the gateway sends)."""

    address: str
    role: str  # customer | agent | upstream | partner | unknown
    customer: Customer | None = None
    agent: Agent | None = None


def customer_for(address: str, customers: Iterable[Customer]) -> Customer | None:
    """Single addresses first, then domains (a subdomain belongs to its parent's customer)."""
    address = unicode_address(address.lower())
    customers = tuple(customers)
    for customer in customers:
        if address in customer.addresses:
            return customer
    for customer in customers:
        if in_domains(address, customer.domains):
            return customer
    return None


def unicode_address(address: str) -> str:
    """The address with an IDNA domain ("xn--bcher-kva.example") in the Unicode form that
    config.toml's domains are normalised to ("bücher.example")."""
    local, _, domain = address.rpartition("@")
    if "xn--" not in domain:
        return address
    try:
        return f"{local}@{domain.encode('ascii').decode('idna')}"
    except UnicodeError:
        return address


def in_domains(address: str, domains: Iterable[str]) -> bool:
    """The address is at one of the domains or a subdomain (css.one.microsoft.com)."""
    domain = address.rpartition("@")[2]
    return any(domain == d or domain.endswith("." + d) for d in domains)


def agent_for(address: str, agents: Iterable[Agent]) -> Agent | None:
    address = address.lower()
    return next((agent for agent in agents if agent.address == address), None)


def identify(address: str, directory: Directory) -> Author:
    address = address.lower()
    if address == directory.partner_address:
        return Author(address, "partner")
    agent = agent_for(address, directory.agents)
    if agent:
        return Author(address, "agent", agent=agent)
    parties = {p.address for p in directory.parties}
    if address in parties or in_domains(address, directory.upstream_domains):
        return Author(address, "upstream")
    customer = customer_for(address, directory.customers)
    return Author(address, "customer" if customer else "unknown", customer=customer)


def agents_to_notify(customer_id: str | None, queue: str, agents: Iterable[Agent]) -> list[Agent]:
    """Agents of the queue who may act on this customer; only "*" agents for unknown senders."""
    return [a for a in agents if queue in a.queues and a.may_act_on(customer_id)]


def party_address(party_id: str, parties: Iterable[Party]) -> str | None:
    return next((p.address for p in parties if p.id == party_id.strip().lower()), None)


def escalates_to_microsoft(customer: Customer | None) -> bool:
    """A direct-bill customer's escalation goes to Microsoft (an unknown sender's too: only
    Microsoft can say); an indirect one's to its provider."""
    return not (customer and customer.billing == "indirect" and customer.provider)


def escalation_address(customer: Customer | None, directory: Directory) -> str | None:
    """Microsoft for a direct-bill customer, the indirect provider for an indirect one."""
    if customer and customer.billing == "indirect" and customer.provider:
        return party_address(customer.provider, directory.parties)
    return directory.microsoft_address


def uncovered(
    queues: Iterable[str], customers: Sequence[Customer], agents: Sequence[Agent]
) -> list[tuple[str, str]]:
    """(queue, customer id) pairs that no agent may act on: a ticket there would reach
    nobody of its queue."""
    return [
        (queue, customer.id)
        for queue in dict.fromkeys(queues)
        for customer in customers
        if not agents_to_notify(customer.id, queue, agents)
    ]
