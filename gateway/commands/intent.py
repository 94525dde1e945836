"""#intent <name>: the agent says what the request really was; a label triage learns from."""

from __future__ import annotations

from gateway.commands.base import AgentCommand, AgentReply, CommandFacts, command
from gateway.processing import triage_labels
from routing.intents import INTENTS


@command
class Intent(AgentCommand):
    name = "intent"
    argument = "<intent>"
    description = "labels the ticket's request for triage (`gatewayd triage train` learns it)"

    def check(self, argument: str, facts: CommandFacts) -> str | None:
        return None if argument.strip().lower() in INTENTS else f"use one of {', '.join(INTENTS)}"

    def run(self, reply: AgentReply, argument: str) -> None:
        assert reply.agent is not None
        intent = argument.strip().lower()
        triage_labels.keep(reply.batch, reply.ticket, intent, reply.agent.address)
