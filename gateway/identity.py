"""Who wrote a message and who may act on a customer: customers by address then domain, agents."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import Agent, Config, Customer


@dataclass(frozen=True)
class Sender:
    address: str
    role: str  # customer | agent | upstream | partner | unknown
    customer: Customer | None = None
    agent: Agent | None = None


def customer_for(address: str, config: Config) -> Customer | None:
    """Single addresses first, then domains (a subdomain belongs to its parent's customer)."""
    address = address.lower()
    for customer in config.customers:
        if address in customer.addresses:
            return customer
    for customer in config.customers:
        if _in_domains(address, customer.domains):
            return customer
    return None


def _in_domains(address: str, domains: tuple[str, ...]) -> bool:
    """The address is at one of the domains or a subdomain (css.one.microsoft.com)."""
    domain = address.rpartition("@")[2]
    return any(domain == d or domain.endswith("." + d) for d in domains)


def agent_for(address: str, config: Config) -> Agent | None:
    address = address.lower()
    return next((agent for agent in config.agents if agent.address == address), None)


def identify(address: str, config: Config) -> Sender:
    address = address.lower()
    if address == config.partner.address:
        return Sender(address, "partner")
    agent = agent_for(address, config)
    if agent:
        return Sender(address, "agent", agent=agent)
    if address in {p.address for p in config.parties} or _in_domains(
        address, config.microsoft.reply_domains
    ):
        return Sender(address, "upstream")
    customer = customer_for(address, config)
    return Sender(address, "customer" if customer else "unknown", customer=customer)


def agents_to_notify(customer_id: str | None, queue: str, config: Config) -> list[Agent]:
    """Agents of the queue who may act on this customer; only "*" agents for unknown senders."""
    return [a for a in config.agents if queue in a.queues and a.may_act_on(customer_id)]
