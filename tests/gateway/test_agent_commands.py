"""gateway/commands/: each #command's definition, its argument check without a database, and
README's table of commands, which must say what the registry says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.commands import COMMANDS, CommandFacts
from gateway.config import Config

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> dict[str, str]:
    """`#name` -> the role the README's command table says it needs."""
    text = README.read_text()
    table = text.split("Commands go on the first lines of the reply", 1)[1].split("\n\n", 2)[1]
    found = {}
    for row in table.splitlines()[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        for name in re.findall(r"`#([a-z-]+)", cells[0]):
            found[name] = cells[-1]
    return found


def test_the_readme_lists_every_command_with_its_role() -> None:
    registered = {name: c.least_role for name, c in COMMANDS.items()}
    assert readme_commands() == registered


def test_the_least_roles_are_the_gdap_like_ones() -> None:
    roles = {name: c.least_role for name, c in COMMANDS.items()}
    assert roles.pop("escalate") == "service-support-admin"
    assert roles.pop("upstream") == "service-support-admin"  # writes to Microsoft too
    assert roles.pop("forward") == "admin-agent"
    assert set(roles.values()) == {"helpdesk-agent"}


@pytest.mark.parametrize(
    ("name", "argument", "customer", "problem"),
    [
        ("assign", "priya", "fabrikam", None),
        ("assign", "Priya Raman", "fabrikam", None),
        ("assign", "priya", "adatum", "no agent 'priya' for this customer"),  # fabrikam only
        ("assign", "nobody", "fabrikam", "no agent 'nobody' for this customer"),
        ("priority", "HIGH", "fabrikam", None),
        ("priority", "asap", "fabrikam", "use one of low, normal, high, urgent"),
        ("forward", "northwind", "fabrikam", None),
        ("forward", "tailspin", "fabrikam", "no party 'tailspin'"),
        ("escalate", "", "fabrikam", None),
        ("close", "whatever", "fabrikam", None),
    ],
)
def test_argument_checks(
    config: Config, name: str, argument: str, customer: str, problem: str | None
) -> None:
    assert COMMANDS[name].check(argument, CommandFacts(config, customer)) == problem
