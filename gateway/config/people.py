"""The directory in config: support parties, customers, agents."""

from __future__ import annotations

from gateway.config.model import LANGUAGES, ROLES
from gateway.config.values import (
    Table,
    identifier_value,
    one_of,
    parse_address,
    parse_domain,
    text_value,
)
from routing.directory import Agent, Customer, Party


def read_party(t: Table) -> Party:
    party = Party(
        id=t.get("id", identifier_value),
        name=t.str("name"),
        address=t.get("address", parse_address),
    )
    t.finish()
    return party


def read_customer(t: Table, party_ids: set[str]) -> Customer:
    customer = Customer(
        id=t.get("id", identifier_value),
        name=t.str("name"),
        domains=t.list("domains", parse_domain),
        addresses=t.list("addresses", parse_address),
        tenant=t.str("tenant", ""),
        billing=t.choice("billing", ("direct", "indirect")),
        provider=t.str("provider", "") or None,
        direct_microsoft=t.bool("direct_microsoft", False),
        language=t.choice("language", LANGUAGES, "en"),
        language_given="language" in t.data,
        plan=t.get("plan", identifier_value, None),
        contact=t.get("contact", parse_address, None),
        graph_tenant=t.bool("graph_tenant", False),
    )
    if customer.graph_tenant and not customer.tenant:
        t.problems.append(f"{t.key('graph_tenant')}: needs the customer's tenant")
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


def read_agent(t: Table, customer_ids: set[str], partner_language: str) -> Agent:
    agent = Agent(
        address=t.get("address", parse_address),
        name=t.str("name", ""),
        roles=t.list("roles", lambda v: one_of(v, ROLES), ("helpdesk-agent",)),
        customers=t.list("customers", text_value, ("*",)),
        queues=t.list("queues", identifier_value, ("helpdesk",)),
        language=t.choice("language", LANGUAGES, partner_language or "en"),
    )
    for i, customer_id in enumerate(agent.customers):
        if customer_id != "*" and customer_id not in customer_ids:
            t.problems.append(
                f"{t.key('customers')}[{i}]: no [[customers]] entry has id {customer_id!r}"
            )
    t.finish()
    return agent
