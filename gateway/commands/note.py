"""#note: the reply stays on the ticket as an internal note; nothing reaches the customer."""

from __future__ import annotations

from gateway.commands.base import AgentCommand, AgentReply, command


@command
class Note(AgentCommand):
    name = "note"
    description = "keeps the text on the ticket as an internal note; nothing is sent"
    internal = True

    def run(self, reply: AgentReply, argument: str) -> None:
        pass  # recorded as a note before commands run (gateway/processing/agent_replies.py)
