"""What every `#command` is: a name, how its argument is written, the least role that may run
it, a pure check of its argument, and what it does. Each command is one small class in a
module of this package, registered by `@command`; the set of commands is the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.config import Agent, Config
from gateway.delivery.templates import Templates
from gateway.store.batch import Batch
from gateway.store.models import RawMessage, Ticket
from parsers.message import ParsedMessage


@dataclass(frozen=True)
class AgentReply:
    """An agent's reply being acted on, with what its commands may use."""

    batch: Batch
    raw: RawMessage
    message: ParsedMessage
    ticket: Ticket
    agent: Agent | None  # the agent the signed address names, else the agent in From:
    config: Config
    templates: Templates


@dataclass(frozen=True)
class CommandFacts:
    """What an argument check may look at: the config and the ticket, no database."""

    config: Config
    customer_id: str | None


class AgentCommand:
    name: ClassVar[str]
    argument: ClassVar[str] = ""  # as shown in help, e.g. "<agent>"; "" takes none
    description: ClassVar[str]
    least_role: ClassVar[str] = "helpdesk-agent"
    # The reply stays on the ticket as an internal note: nothing of it reaches the customer.
    internal: ClassVar[bool] = False

    def check(self, argument: str, facts: CommandFacts) -> str | None:
        """What is wrong with `argument`, or None. Runs before anything of the reply is done."""
        return None

    def run(self, reply: AgentReply, argument: str) -> None:
        raise NotImplementedError


COMMANDS: dict[str, AgentCommand] = {}


def command(cls: type[AgentCommand]) -> type[AgentCommand]:
    COMMANDS[cls.name] = cls()
    return cls


def agent_called(name: str, config: Config) -> Agent | None:
    """An agent by address, local part or name, as agents write it after #assign."""
    wanted = name.strip().lower()
    for agent in config.agents:
        local = agent.address.partition("@")[0]
        if wanted in (agent.address, local, agent.name.lower()):
            return agent
    return None
