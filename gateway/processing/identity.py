"""Who wrote a message and which agents hear of it: routing/directory.py's decisions, asked
with the config's directory."""

from __future__ import annotations

from gateway.config import Agent, Config, Customer
from routing import directory
from routing.directory import Author

__all__ = ["Author", "agent_for", "agents_to_notify", "customer_for", "identify"]


def customer_for(address: str, config: Config) -> Customer | None:
    return directory.customer_for(address, config.customers)


def agent_for(address: str, config: Config) -> Agent | None:
    return directory.agent_for(address, config.agents)


def identify(address: str, config: Config) -> Author:
    return directory.identify(address, config.directory)


def agents_to_notify(customer_id: str | None, queue: str, config: Config) -> list[Agent]:
    return directory.agents_to_notify(customer_id, queue, config.agents)
