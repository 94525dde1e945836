"""#queue <name>: the ticket moves to another queue, whose agents then hear of it; moving it to
`sales` tells triage the request was a subscription matter (a label)."""

from __future__ import annotations

from sqlalchemy import select

from gateway.commands.base import AgentCommand, AgentReply, CommandFacts, command
from gateway.delivery import outbox, sender
from gateway.processing import tickets, triage_labels
from gateway.processing.identity import agents_to_notify
from gateway.store.models import RawMessage, TicketMessage
from parsers.message import parse_message

SALES = "sales"  # the queue of subscription matters in the shipped policy


@command
class Queue(AgentCommand):
    name = "queue"
    argument = "<queue>"
    description = "moves the ticket to another queue, whose agents are told; to `sales`: a label"

    def check(self, argument: str, facts: CommandFacts) -> str | None:
        wanted = argument.strip().lower()
        served = {queue for agent in facts.config.agents for queue in agent.queues}
        if wanted not in served:
            return f"no agent works in queue {wanted!r} (queues: {', '.join(sorted(served))})"
        return None

    def run(self, reply: AgentReply, argument: str) -> None:
        assert reply.agent is not None
        ticket, queue = reply.ticket, argument.strip().lower()
        if queue == ticket.queue:
            return
        ticket.queue = queue
        tickets.add_event(reply.batch, ticket, "queued", queue=queue, by=reply.agent.address)
        if queue == SALES:  # a correction: the request was a subscription matter
            triage_labels.keep(reply.batch, ticket, "subscription", reply.agent.address)
        _tell_the_queue(reply)


def _tell_the_queue(reply: AgentReply) -> None:
    """The new queue's agents get the ticket's notification, made from its first mail."""
    batch, ticket, config = reply.batch, reply.ticket, reply.config
    raw_id = batch.scalar(
        select(TicketMessage.raw_message_id)
        .where(TicketMessage.ticket_id == ticket.id, TicketMessage.kind == "customer")
        .order_by(TicketMessage.id)
        .limit(1)
    )
    raw = batch.get(RawMessage, raw_id) if raw_id else None
    if raw is None:
        return
    first = parse_message(raw.data, raw.mail_from)
    customer = config.customer(ticket.customer_id)
    mover = reply.agent.address if reply.agent else None
    for agent in agents_to_notify(ticket.customer_id, ticket.queue, config):
        if agent.address == mover:
            continue  # the agent who moved it knows
        mail = sender.agent_notification(
            config, reply.templates, ticket, first, customer, agent, followup=False
        )
        outbox.send_for_ticket(batch, ticket, mail)
