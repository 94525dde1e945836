"""#upstream <text>: a note for Microsoft, added to the ticket's Partner Center service request
(gateway/delivery/service_requests.py queues it). The reply stays on the ticket as an internal
note: nothing of it reaches the customer."""

from __future__ import annotations

from gateway.commands.base import AgentCommand, AgentReply, CommandFacts, command
from gateway.processing import tickets
from parsers.commands import split_commands


@command
class Upstream(AgentCommand):
    name = "upstream"
    argument = "<text>"
    description = (
        "adds the text (and the rest of the reply) as a note to the ticket's Partner Center "
        "service request; nothing reaches the customer"
    )
    least_role = "service-support-admin"  # who may escalate to Microsoft may write to it
    internal = True

    def check(self, argument: str, facts: CommandFacts) -> str | None:
        if facts.config.microsoft.escalation != "partner_center":
            return '#upstream needs microsoft.escalation = "partner_center"'
        return None

    def run(self, reply: AgentReply, argument: str) -> None:
        from gateway.delivery import service_requests

        answer = split_commands(reply.message.text)[1].strip()
        text = "\n\n".join(part for part in (argument.strip(), answer) if part)
        agent = reply.agent.address if reply.agent else reply.message.from_addr
        if not text or not service_requests.queue_note(reply.batch, reply.ticket, agent, text):
            why = "empty note" if not text else "the ticket has no open service request"
            tickets.add_event(reply.batch, reply.ticket, "upstream_impossible", reason=why)
            return
        tickets.add_event(reply.batch, reply.ticket, "upstream_queued", agent=agent)
