"""Agents' `#commands`, one small class each, registered by name (like routing's conditions).

Adding a command is one module here with `@command`, imported below; README's table of
commands is checked against this registry (tests/gateway/test_commands.py)."""

from gateway.commands import (  # noqa: F401  (register)
    assign,
    handovers,
    intent,
    note,
    priority,
    queue,
    status,
    time_spent,
    upstream,
)
from gateway.commands.base import COMMANDS, AgentCommand, AgentReply, CommandFacts

__all__ = ["COMMANDS", "AgentCommand", "AgentReply", "CommandFacts"]
