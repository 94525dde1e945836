"""Which ticket a message belongs to: signed reply address, then In-Reply-To/References, then
the [TAG#N] subject tag."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.config import Config
from gateway.reply_address import verify_reply_address
from gateway.storage import Ticket, TicketMessage
from parsers.message import ParsedMessage
from parsers.subjects import ticket_number_in


@dataclass(frozen=True)
class ThreadMatch:
    ticket: Ticket
    by: str  # reply_address | references | subject_tag
    reply_tag: str | None = None  # the tag of a signed reply address


def find_ticket(
    session: Session,
    message: ParsedMessage,
    envelope_recipients: Iterable[str],
    customer_id: str | None,
    config: Config,
    upstream_or_agent: bool = False,
) -> ThreadMatch | None:
    """`upstream_or_agent`: the sender is Microsoft, a party or an agent, whose replies carry
    the tag of a ticket that is not their own (checks on agents come after threading)."""
    return (
        _by_reply_address(session, message, envelope_recipients, config)
        or _by_references(session, message)
        or _by_subject_tag(session, message, customer_id, config, upstream_or_agent)
    )


def _by_reply_address(
    session: Session, message: ParsedMessage, envelope: Iterable[str], config: Config
) -> ThreadMatch | None:
    for address in dict.fromkeys([*envelope, *message.to, *message.cc]):
        target = verify_reply_address(config, address)
        ticket = target and _ticket_numbered(session, target.ticket_number)
        if target and ticket:
            return ThreadMatch(ticket, "reply_address", target.tag)
    return None


def _by_references(session: Session, message: ParsedMessage) -> ThreadMatch | None:
    # Newest first: In-Reply-To, then References from the end (RFC 5322 §3.6.4 order).
    wanted = list(
        dict.fromkeys(
            [*([message.in_reply_to] if message.in_reply_to else []), *reversed(message.references)]
        )
    )[:50]
    if not wanted:
        return None
    rows = session.execute(
        select(TicketMessage.message_id, TicketMessage.ticket_id).where(
            TicketMessage.message_id.in_(wanted)
        )
    ).all()
    found = {message_id: ticket_id for message_id, ticket_id in rows}
    for message_id in wanted:
        if message_id in found:
            return ThreadMatch(session.get_one(Ticket, found[message_id]), "references")
    return None


def _by_subject_tag(
    session: Session,
    message: ParsedMessage,
    customer_id: str | None,
    config: Config,
    upstream_or_agent: bool,
) -> ThreadMatch | None:
    number = ticket_number_in(message.subject, config.partner.ticket_tag)
    ticket = _ticket_numbered(session, number) if number is not None else None
    if ticket is None:
        return None
    # Ticket numbers are guessable; a tag alone only threads mail of the ticket's own customer
    # (or, for a ticket without one, of the requester), so nobody writes into another's ticket.
    same_customer = customer_id is not None and customer_id == ticket.customer_id
    if upstream_or_agent or same_customer or message.from_addr == ticket.requester:
        return ThreadMatch(ticket, "subject_tag")
    return None


def _ticket_numbered(session: Session, number: int) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.number == number))
