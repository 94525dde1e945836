"""#escalate [category] and #forward <party>: the ticket goes upstream."""

from __future__ import annotations

from gateway.commands.base import AgentCommand, AgentReply, CommandFacts, command
from gateway.processing import triage_labels
from gateway.processing.handovers import escalation_address, hand_over, party_address


@command
class Escalate(AgentCommand):
    name = "escalate"
    argument = "[category]"
    description = (
        "to `microsoft.escalation_address` for a direct-bill customer, to the customer's "
        "provider for an indirect one; status `waiting_upstream`"
    )
    least_role = "service-support-admin"

    def check(self, argument: str, facts: CommandFacts) -> str | None:
        if escalation_address(facts.config, facts.customer_id) is None:
            return "no escalation address for this customer"
        return None

    def run(self, reply: AgentReply, argument: str) -> None:
        to = escalation_address(reply.config, reply.ticket.customer_id)
        assert to is not None and reply.agent is not None  # checked before
        if reply.ticket.route_action == "handle":
            # The agent corrects a route that stayed here: a label, where its intent is known.
            corrected = triage_labels.intent_of_escalation(reply.batch, reply.ticket, argument)
            if corrected:
                triage_labels.keep(reply.batch, reply.ticket, corrected, reply.agent.address)
        hand_over(
            reply.batch, reply.config, reply.templates, reply.ticket, to, "escalation", argument
        )


@command
class Forward(AgentCommand):
    name = "forward"
    argument = "<party>"
    description = "to a `[[parties]]` entry (outsourced support); status `waiting_upstream`"
    least_role = "admin-agent"

    def check(self, argument: str, facts: CommandFacts) -> str | None:
        return None if party_address(facts.config, argument) else f"no party {argument!r}"

    def run(self, reply: AgentReply, argument: str) -> None:
        to = party_address(reply.config, argument)
        assert to is not None and reply.agent is not None  # checked before
        if reply.ticket.route_action == "handle":  # a correction, as for #escalate
            corrected = triage_labels.intent_of_escalation(reply.batch, reply.ticket, "")
            if corrected:
                triage_labels.keep(reply.batch, reply.ticket, corrected, reply.agent.address)
        hand_over(reply.batch, reply.config, reply.templates, reply.ticket, to, "forward", "")
