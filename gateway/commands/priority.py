"""#priority <p>: low, normal, high or urgent."""

from __future__ import annotations

from gateway.commands.base import AgentCommand, AgentReply, CommandFacts, command
from gateway.config import PRIORITIES
from gateway.processing import tickets


@command
class Priority(AgentCommand):
    name = "priority"
    argument = "<p>"
    description = "`low`, `normal`, `high` or `urgent`"

    def check(self, argument: str, facts: CommandFacts) -> str | None:
        return None if argument.lower() in PRIORITIES else f"use one of {', '.join(PRIORITIES)}"

    def run(self, reply: AgentReply, argument: str) -> None:
        reply.ticket.priority = argument.lower()
        tickets.add_event(reply.batch, reply.ticket, "priority", priority=reply.ticket.priority)
