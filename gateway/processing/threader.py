"""Which ticket a message belongs to: signed reply address, then In-Reply-To/References, then
the [TAG#N] subject tag."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from gateway.config import Config
from gateway.delivery.reply_address import ReplyTarget, verify_reply_address
from gateway.store.batch import Batch
from gateway.store.models import Ticket, TicketMessage
from parsers.message import ParsedMessage
from parsers.subjects import ticket_number_in


@dataclass(frozen=True)
class ThreadMatch:
    ticket: Ticket
    by: str  # reply_address | references | subject_tag
    reply_tag: str | None = None  # the tag of a signed reply address
    reply_target: ReplyTarget | None = None  # the signed reply address, read


def find_ticket(
    batch: Batch,
    message: ParsedMessage,
    envelope_recipients: Iterable[str],
    customer_id: str | None,
    config: Config,
    upstream_or_agent: bool = False,
) -> ThreadMatch | None:
    """`upstream_or_agent`: the sender is Microsoft, a party or an agent, whose replies carry
    the tag of a ticket that is not their own (checks on agents come after threading)."""
    return (
        _by_reply_address(batch, message, envelope_recipients, config)
        or _by_references(batch, message, customer_id, upstream_or_agent)
        or _by_subject_tag(batch, message, customer_id, config, upstream_or_agent)
    )


def foreign_references(
    batch: Batch, message: ParsedMessage, customer_id: str | None
) -> list[Ticket]:
    """Tickets that the message's In-Reply-To/References name but that it may not thread
    into (another customer's): a new ticket notes them for the agents."""
    return [
        ticket
        for ticket in _referenced_tickets(batch, message)
        if not _may_thread(ticket, message, customer_id, upstream_or_agent=False)
    ]


def _by_reply_address(
    batch: Batch, message: ParsedMessage, envelope: Iterable[str], config: Config
) -> ThreadMatch | None:
    for address in dict.fromkeys([*envelope, *message.to, *message.cc]):
        target = verify_reply_address(config, address)
        ticket = target and _ticket_numbered(batch, target.ticket_number)
        if target and ticket:
            return ThreadMatch(ticket, "reply_address", target.tag, target)
    return None


def _by_references(
    batch: Batch, message: ParsedMessage, customer_id: str | None, upstream_or_agent: bool
) -> ThreadMatch | None:
    for ticket in _referenced_tickets(batch, message):
        if _may_thread(ticket, message, customer_id, upstream_or_agent):
            return ThreadMatch(ticket, "references")
    return None


def _referenced_tickets(batch: Batch, message: ParsedMessage) -> list[Ticket]:
    """The tickets of the messages named, newest reference first, each once."""
    # Newest first: In-Reply-To, then References from the end (RFC 5322 §3.6.4 order).
    wanted = list(
        dict.fromkeys(
            [*([message.in_reply_to] if message.in_reply_to else []), *reversed(message.references)]
        )
    )[:50]
    if not wanted:
        return []
    rows = batch.execute(
        select(TicketMessage.message_id, TicketMessage.ticket_id).where(
            TicketMessage.message_id.in_(wanted)
        )
    ).all()
    found = {message_id: ticket_id for message_id, ticket_id in rows}
    ticket_ids = dict.fromkeys(found[m] for m in wanted if m in found)
    return [batch.get_one(Ticket, ticket_id) for ticket_id in ticket_ids]


def _by_subject_tag(
    batch: Batch,
    message: ParsedMessage,
    customer_id: str | None,
    config: Config,
    upstream_or_agent: bool,
) -> ThreadMatch | None:
    number = ticket_number_in(message.subject, config.partner.ticket_tag)
    ticket = _ticket_numbered(batch, number) if number is not None else None
    if ticket is None:
        return None
    if _may_thread(ticket, message, customer_id, upstream_or_agent):
        return ThreadMatch(ticket, "subject_tag")
    return None


def _may_thread(
    ticket: Ticket, message: ParsedMessage, customer_id: str | None, upstream_or_agent: bool
) -> bool:
    """Ticket numbers are guessable and Message-IDs travel (a forwarded mail, a shared thread):
    neither alone threads a customer's mail into another customer's ticket. Only mail of the
    ticket's own customer (or, for a ticket without one, of its requester) does."""
    same_customer = customer_id is not None and customer_id == ticket.customer_id
    return upstream_or_agent or same_customer or message.from_addr == ticket.requester


def _ticket_numbered(batch: Batch, number: int) -> Ticket | None:
    return batch.scalar(select(Ticket).where(Ticket.number == number))
