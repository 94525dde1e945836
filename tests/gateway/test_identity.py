"""gateway/processing/identity.py: who wrote a message, and which agents may hear of a customer's
ticket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.config import Config
from gateway.processing.identity import agents_to_notify, customer_for, identify


def test_customer_by_domain(config: Config) -> None:
    customer = customer_for("anna@fabrikam.example", config)

    assert customer is not None and customer.id == "fabrikam"


def test_customer_by_single_address(config: Config) -> None:
    customer = customer_for("it-admin@adatum-mail.example", config)

    assert customer is not None and customer.id == "adatum"


def test_single_address_is_matched_before_another_customer_domain(
    config_data: dict[str, Any], make_config: Callable[[dict[str, Any]], Config]
) -> None:
    # Adatum's outsourced admin has a mailbox in Fabrikam's domain.
    config_data["customers"][1]["addresses"] = ["adatum-admin@fabrikam.example"]
    config = make_config(config_data)

    customer = customer_for("adatum-admin@fabrikam.example", config)

    assert customer is not None and customer.id == "adatum"
    other = customer_for("anna@fabrikam.example", config)
    assert other is not None and other.id == "fabrikam"


def test_subdomain_belongs_to_the_customer_of_its_parent(config: Config) -> None:
    customer = customer_for("anna@nl.mail.fabrikam.example", config)

    assert customer is not None and customer.id == "fabrikam"


@pytest.mark.parametrize(
    "address", ["anna@notfabrikam.example", "anna@fabrikam.example.evil", "anna@example"]
)
def test_a_lookalike_domain_is_no_customer(config: Config, address: str) -> None:
    assert customer_for(address, config) is None


def test_customer_lookup_ignores_case(config: Config) -> None:
    customer = customer_for("IT-Admin@Adatum-Mail.example", config)

    assert customer is not None and customer.id == "adatum"


def test_identify_customer(config: Config) -> None:
    sender = identify("anna@fabrikam.example", config)

    assert sender.role == "customer"
    assert sender.customer is not None and sender.customer.id == "fabrikam"
    assert sender.agent is None


def test_identify_agent(config: Config) -> None:
    sender = identify("priya@contoso.example", config)

    assert sender.role == "agent"
    assert sender.agent is not None and sender.agent.name == "Priya Raman"
    assert sender.customer is None


@pytest.mark.parametrize(
    "address",
    ["support@microsoft.com", "casemail@css.one.microsoft.com", "csp-support@northwind.example"],
    ids=["microsoft", "microsoft-subdomain", "party"],
)
def test_identify_upstream(config: Config, address: str) -> None:
    sender = identify(address, config)

    assert sender.role == "upstream"
    assert sender.customer is None


def test_another_mailbox_of_a_party_domain_is_not_upstream(config: Config) -> None:
    assert identify("sales@northwind.example", config).role == "unknown"


def test_upstream_wins_over_a_customer_domain(
    config_data: dict[str, Any], make_config: Callable[[dict[str, Any]], Config]
) -> None:
    # Mail from Microsoft is never a customer's, even if a customer is set up with that domain.
    config_data["customers"][0]["domains"] = ["microsoft.com"]
    config = make_config(config_data)

    assert identify("support@microsoft.com", config).role == "upstream"


def test_identify_partner_address(config: Config) -> None:
    sender = identify("support@contoso.example", config)

    assert sender.role == "partner"
    assert sender.agent is None and sender.customer is None


def test_identify_unknown(config: Config) -> None:
    sender = identify("someone@elsewhere.example", config)

    assert sender.role == "unknown"
    assert sender.customer is None and sender.agent is None


def _addresses(agents: list[Any]) -> list[str]:
    return [agent.address for agent in agents]


def test_agents_to_notify_by_queue_and_customer(config: Config) -> None:
    # jan: customers "*", queue helpdesk; priya: customers fabrikam, queues helpdesk and sales.
    assert _addresses(agents_to_notify("fabrikam", "helpdesk", config)) == [
        "jan@contoso.example",
        "priya@contoso.example",
    ]
    assert _addresses(agents_to_notify("fabrikam", "sales", config)) == ["priya@contoso.example"]
    assert _addresses(agents_to_notify("adatum", "helpdesk", config)) == ["jan@contoso.example"]
    assert _addresses(agents_to_notify("adatum", "sales", config)) == []
    assert agents_to_notify("fabrikam", "billing", config) == []


def test_unknown_customer_is_notified_only_to_star_agents(config: Config) -> None:
    assert _addresses(agents_to_notify(None, "helpdesk", config)) == ["jan@contoso.example"]
    assert agents_to_notify(None, "sales", config) == []


@pytest.mark.parametrize("address", ["jan@bücher.example", "jan@xn--bcher-kva.example"])
def test_an_internationalised_domain_in_either_form(
    config_data: dict[str, Any], make_config: Callable[[dict[str, Any]], Config], address: str
) -> None:
    config_data["customers"][1]["domains"] = ["bücher.example"]
    config = make_config(config_data)

    customer = customer_for(address, config)

    assert customer is not None and customer.id == config.customers[1].id
