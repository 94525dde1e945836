"""#assign <agent>: the ticket's assignee, an agent allowed on its customer."""

from __future__ import annotations

from gateway.commands.base import AgentCommand, AgentReply, CommandFacts, agent_called, command
from gateway.processing import tickets


@command
class Assign(AgentCommand):
    name = "assign"
    argument = "<agent>"
    description = (
        "assigns the ticket (address, local part or name of an agent allowed on the customer)"
    )

    def check(self, argument: str, facts: CommandFacts) -> str | None:
        target = agent_called(argument, facts.config)
        if target is None or not target.may_act_on(facts.customer_id):
            return f"no agent {argument!r} for this customer"
        return None

    def run(self, reply: AgentReply, argument: str) -> None:
        target = agent_called(argument, reply.config)
        assert target is not None and reply.agent is not None  # checked before
        reply.ticket.assignee = target.address
        tickets.add_event(
            reply.batch, reply.ticket, "assigned", agent=target.address, by=reply.agent.address
        )
