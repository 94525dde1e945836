"""#close, #pending, #reopen: the ticket's status."""

from __future__ import annotations

from gateway.commands.base import AgentCommand, AgentReply, command
from gateway.processing import tickets
from gateway.store.models import TicketStatus


class _SetStatus(AgentCommand):
    status: str

    def run(self, reply: AgentReply, argument: str) -> None:
        tickets.set_status(reply.batch, reply.ticket, self.status, f"#{self.name}")


@command
class Close(_SetStatus):
    name, status = "close", TicketStatus.CLOSED
    description = "status `closed`"


@command
class Pending(_SetStatus):
    name, status = "pending", TicketStatus.WAITING_CUSTOMER
    description = "status `waiting_customer`; closed after `support.close_waiting_after`"


@command
class Reopen(_SetStatus):
    name, status = "reopen", TicketStatus.OPEN
    description = "status `open`"
