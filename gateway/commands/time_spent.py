"""#time <duration> [nonbillable] [note]: the agent's time on the ticket, for the customer's
monthly statement. A correction is a negative entry (#time -15m). Alone in a reply it records
the time and nothing reaches the customer; above an answer, both are done."""

from __future__ import annotations

from gateway.clock import now
from gateway.commands.base import AgentCommand, AgentReply, CommandFacts, command
from gateway.processing import tickets, time_entries
from routing.billing import TimeError, parse_time


@command
class Time(AgentCommand):
    name = "time"
    argument = "<duration> [nonbillable] [note]"
    description = (
        "records time on the ticket (`45m`, `1h30`; `-15m` corrects), billable unless "
        "`nonbillable`; a note may follow on the line"
    )

    def check(self, argument: str, facts: CommandFacts) -> str | None:
        try:
            parse_time(argument)
        except TimeError as exc:
            return str(exc)
        return None

    def run(self, reply: AgentReply, argument: str) -> None:
        from gateway.processing.plan_notices import tell_usage

        entry = parse_time(argument)
        assert reply.agent is not None  # checked before
        at = now()
        batch, ticket = reply.batch, reply.ticket
        time_entries.record(batch.session, ticket, reply.agent.address, entry, at, reply.raw.id)
        tickets.add_event(
            batch,
            ticket,
            "time",
            agent=reply.agent.address,
            minutes=entry.minutes,
            billable=entry.billable,
            note=entry.note,
        )
        if ticket.customer_id:
            tell_usage(batch, reply.config, reply.templates, ticket.customer_id, at)
