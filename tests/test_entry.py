"""gatewayd.py: `run` is recognised before the heavy imports, to start the worker's fork server."""

from __future__ import annotations

import pytest

import gatewayd


@pytest.mark.parametrize(
    ("arguments", "command"),
    [
        (["run", "--config", "x.toml"], "run"),
        (["--config", "run", "tickets", "list"], "tickets"),  # a config file named "run"
        (["--log-level", "DEBUG", "--config=x.toml", "run"], "run"),
        (["--help"], None),
        ([], None),
    ],
)
def test_the_command_is_the_first_argument_that_is_no_option(
    arguments: list[str], command: str | None
) -> None:
    assert gatewayd._command(arguments) == command
