"""routing/directory.py: who wrote a message, who hears of a ticket, where escalations go."""

from __future__ import annotations

import pytest

from routing.directory import (
    Agent,
    Customer,
    Directory,
    Party,
    agents_to_notify,
    escalation_address,
    identify,
    uncovered,
)

FABRIKAM = Customer(
    "fabrikam", "Fabrikam", ("fabrikam.example",), (), "", "direct", None, False, "nl"
)
ADATUM = Customer(
    "adatum", "Adatum", ("adatum.example",), (), "", "indirect", "northwind", False, "en"
)
JAN = Agent("jan@contoso.example", "Jan", ("helpdesk-agent",), ("*",), ("helpdesk",))
PRIYA = Agent("priya@contoso.example", "Priya", ("admin-agent",), ("fabrikam",), ("sales",))
DIRECTORY = Directory(
    partner_address="support@contoso.example",
    customers=(FABRIKAM, ADATUM),
    agents=(JAN, PRIYA),
    parties=(Party("northwind", "Northwind", "csp@northwind.example"),),
    upstream_domains=("microsoft.com",),
    microsoft_address="escalations@microsoft.example",
)


@pytest.mark.parametrize(
    ("address", "role", "customer"),
    [
        ("support@contoso.example", "partner", None),
        ("Jan@Contoso.example", "agent", None),
        ("css@one.microsoft.com", "upstream", None),
        ("csp@northwind.example", "upstream", None),
        ("anna@fabrikam.example", "customer", "fabrikam"),
        ("anna@sub.adatum.example", "customer", "adatum"),
        ("eve@evil.example", "unknown", None),
    ],
)
def test_identify(address: str, role: str, customer: str | None) -> None:
    author = identify(address, DIRECTORY)
    assert (author.role, author.customer.id if author.customer else None) == (role, customer)


def test_agents_to_notify_are_of_the_queue_and_the_customer() -> None:
    assert agents_to_notify("adatum", "helpdesk", DIRECTORY.agents) == [JAN]
    assert agents_to_notify("fabrikam", "sales", DIRECTORY.agents) == [PRIYA]
    assert agents_to_notify("adatum", "sales", DIRECTORY.agents) == []
    assert agents_to_notify(None, "sales", DIRECTORY.agents) == []  # "*" agents only


def test_escalations_go_to_microsoft_or_the_provider() -> None:
    assert escalation_address(FABRIKAM, DIRECTORY) == "escalations@microsoft.example"
    assert escalation_address(ADATUM, DIRECTORY) == "csp@northwind.example"
    assert escalation_address(None, DIRECTORY) == "escalations@microsoft.example"


def test_uncovered_queue_and_customer_pairs() -> None:
    pairs = uncovered(["helpdesk", "sales", "sales"], DIRECTORY.customers, DIRECTORY.agents)
    assert pairs == [("sales", "adatum")]
