"""What a stage decided to do with a ticket, as typed effects, and the one place that applies them.

A stage reads what it needs (the ticket, its thread, the rate counts) and returns a `Plan`;
`apply` writes it, in the order planned: the incoming message, events, a status change, case
numbers, outgoing mail and hand-overs. So a stage can be read, and tested, as a decision, and a
new kind of effect is one dataclass here and one case in `apply`.

What is not planned, and why: a new ticket's own row is written before its plan is made, since
every mail names the ticket's number; and joining an outage cluster (gateway/processing/
outages.py) reads and locks the cluster while it decides, so it stays a step of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config import Config
from gateway.delivery import outbox
from gateway.delivery.sender import OutgoingMail
from gateway.delivery.templates import Templates
from gateway.processing import tickets
from gateway.processing.handovers import hand_over
from gateway.store.batch import Batch
from gateway.store.models import Ticket
from parsers.message import ParsedMessage


@dataclass(frozen=True)
class Record:
    """The incoming message, kept on the ticket."""

    message: ParsedMessage
    kind: str  # customer | upstream | system
    raw_id: int


@dataclass(frozen=True)
class Note:
    """An event on the ticket, for the agents and for `tickets show`."""

    what: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class Status:
    status: str
    why: str


@dataclass(frozen=True)
class CaseNumbers:
    """Microsoft's or the provider's case numbers, from an upstream mail's subject."""

    numbers: tuple[str, ...]


@dataclass(frozen=True)
class Send:
    mail: OutgoingMail
    kind: str = "system"  # how the copy on the ticket is shown


@dataclass(frozen=True)
class HandOver:
    """The ticket goes to Microsoft, the provider or a party, with the customer's files."""

    to: str
    purpose: str  # escalation | forward
    category: str


Effect = Record | Note | Status | CaseNumbers | Send | HandOver


@dataclass
class Plan:
    """The effects on one ticket, in the order they are to be applied."""

    ticket: Ticket
    effects: list[Effect] = field(default_factory=list)

    def record(self, message: ParsedMessage, kind: str, raw_id: int) -> None:
        self.effects.append(Record(message, kind, raw_id))

    def note(self, what: str, **detail: Any) -> None:
        self.effects.append(Note(what, detail))

    def status(self, status: str, why: str) -> None:
        self.effects.append(Status(status, why))

    def case_numbers(self, numbers: tuple[str, ...]) -> None:
        if numbers:
            self.effects.append(CaseNumbers(numbers))

    def send(self, mail: OutgoingMail, kind: str = "system") -> None:
        self.effects.append(Send(mail, kind))

    def hand_over(self, to: str, purpose: str, category: str) -> None:
        self.effects.append(HandOver(to, purpose, category))

    def answerable(self, what: str) -> bool:
        """Whether the requester can get automatic mail; if not, the plan notes why
        (tickets.unanswerable)."""
        note = tickets.unanswerable(self.ticket, what)
        if note is not None:
            self.note(note[0], **note[1])
        return note is None

    def mails(self) -> list[OutgoingMail]:
        return [effect.mail for effect in self.effects if isinstance(effect, Send)]


def apply(batch: Batch, plan: Plan, config: Config, templates: Templates) -> None:
    """The one place where a stage's decisions are written."""
    ticket = plan.ticket
    for effect in plan.effects:
        match effect:
            case Record(message, kind, raw_id):
                tickets.record_incoming(batch, ticket, message, kind, raw_id)
            case Note(what, detail):
                tickets.add_event(batch, ticket, what, **detail)
            case Status(status, why):
                tickets.set_status(batch, ticket, status, why)
            case CaseNumbers(numbers):
                tickets.keep_case_numbers(batch, ticket, numbers)
            case Send(mail, kind):
                outbox.send_for_ticket(batch, ticket, mail, kind)
            case HandOver(to, purpose, category):
                hand_over(batch, config, templates, ticket, to, purpose, category)
