"""Agents' replies: checked (signed address, sender, Authentication-Results, roles), then their
commands carried out and their answer sent to the customer from the partner address.

Nothing an agent writes reaches a customer unless every check passes; a refused reply is kept on
the ticket as a refused note and the agent the address belongs to is told why.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from gateway.commands import COMMANDS, AgentReply, CommandFacts
from gateway.config import Agent, Config
from gateway.delivery import outbox, sender
from gateway.delivery.notices import queue_once_an_hour
from gateway.delivery.reply_address import UPSTREAM_TAG, agent_tag
from gateway.delivery.templates import Templates
from gateway.delivery.wire import sendable
from gateway.processing import tickets
from gateway.processing.identity import Author, agent_for, customer_for
from gateway.processing.threader import ThreadMatch
from gateway.store.batch import Batch
from gateway.store.models import RawMessage, Ticket, TicketMessage, TicketStatus, utcnow
from parsers.authresults import passes_for, results_of, trusted_header_values
from parsers.commands import Command, split_commands
from parsers.envelope import original_sender
from parsers.message import ParsedMessage
from parsers.payloads import attached_files
from routing.authenticity import ReplyEvidence, refusal_of
from routing.permissions import ANSWER_ROLE, Request, refusal_for


class Refused(Exception):
    """The reply is not acted on. `problem` groups notices: one per agent and problem an hour."""

    def __init__(self, reason: str, problem: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problem = problem


def is_agent_mail(match: ThreadMatch, who: Author) -> bool:
    """Mail to an agent's signed address, or from an agent's address onto a ticket."""
    signed_for_agent = match.by == "reply_address" and match.reply_tag != UPSTREAM_TAG
    return signed_for_agent or who.role == "agent"


def handle_agent_mail(
    batch: Batch,
    raw: RawMessage,
    message: ParsedMessage,
    match: ThreadMatch,
    who: Author,
    config: Config,
    templates: Templates,
) -> str:
    agent = _agent_named_by(match, config) if match.by == "reply_address" else who.agent
    reply = AgentReply(batch, raw, message, match.ticket, agent, config, templates)
    commands, answer = split_commands(message.text)
    try:
        _check_authentic(reply, match)
        _check_allowed(reply, commands, answer)
    except Refused as refusal:
        return _refuse(reply, refusal)
    return _carry_out(reply, commands, answer)


def _agent_named_by(match: ThreadMatch, config: Config) -> Agent | None:
    return next((a for a in config.agents if agent_tag(a.address) == match.reply_tag), None)


def _check_authentic(reply: AgentReply, match: ThreadMatch) -> None:
    refusal = refusal_of(_evidence(reply, match))
    if refusal is not None:
        raise Refused(refusal.reason, refusal.problem)


def _evidence(reply: AgentReply, match: ThreadMatch) -> ReplyEvidence:
    agent, message, config = reply.agent, reply.message, reply.config
    target = match.reply_target
    authserv_id = config.trusted_authserv_id
    domain = agent.address.rpartition("@")[2] if agent else ""
    stated = trusted_header_values(message.headers) if authserv_id else []
    return ReplyEvidence(
        agent=agent.address if agent else None,
        signed=match.by == "reply_address",
        fresh=target is not None and target.fresh(utcnow(), config.reply_address_lifetime),
        from_addr=message.from_addr,
        envelope_sender=_envelope_sender(reply),
        authserv_id=authserv_id,
        dkim_pass=bool(stated) and passes_for(results_of(stated, authserv_id), domain),
    )


def _envelope_sender(reply: AgentReply) -> str | None:
    """MAIL FROM as SMTP or the pipe gave it; for IMAP, the Return-Path of the delivering MTA
    (RFC 5321 §4.4). Postfix (message_drop_headers) and Exchange Online remove a sender's own
    Return-Path before they add theirs, which Dovecot puts on top and Exchange further down:
    the first one is taken."""
    mail_from = reply.raw.mail_from
    if mail_from is None:
        mail_from = reply.message.header("Return-Path")
    return original_sender(mail_from) if mail_from is not None else None


def _check_allowed(reply: AgentReply, commands: Sequence[Command], answer: str) -> None:
    agent, ticket = reply.agent, reply.ticket
    assert agent is not None
    facts = CommandFacts(reply.config, ticket.customer_id)
    requests = [_request(command, facts) for command in commands]
    if answer and not _internal(commands):
        requests.append(Request("answer", ANSWER_ROLE))
    reason = refusal_for(
        agent.roles,
        agent.may_act_on(ticket.customer_id),
        ticket.customer_id,
        agent.address,
        requests,
        COMMANDS,
    )
    if reason is not None:
        problem = "customer" if reason.startswith(agent.address) else f"raw-{reply.raw.id}"
        raise Refused(reason, problem)


def _internal(commands: Sequence[Command]) -> bool:
    """#note, #upstream: the reply is kept as a note and not relayed to the customer."""
    return any(c.name in COMMANDS and COMMANDS[c.name].internal for c in commands)


def _request(command: Command, facts: CommandFacts) -> Request:
    definition = COMMANDS.get(command.name)
    if definition is None:
        return Request(command.name, None)
    return Request(command.name, definition.least_role, definition.check(command.argument, facts))


# --- acting ---


def _carry_out(reply: AgentReply, commands: Sequence[Command], answer: str) -> str:
    batch, ticket = reply.batch, reply.ticket
    is_note = _internal(commands)
    _record(reply, "note" if is_note else "agent", answer)
    for command in commands:
        COMMANDS[command.name].run(reply, command.argument)
    if answer and not is_note:
        _relay_answer(reply, answer)
        if ticket.status == TicketStatus.NEW:
            tickets.set_status(batch, ticket, TicketStatus.OPEN, "an agent answered")
    done = ", ".join(f"#{c.name}" for c in commands) or "answer"
    return f"agent {reply.message.from_addr} on ticket {ticket.number}: {done}"


def _relay_answer(reply: AgentReply, answer: str) -> None:
    batch, ticket, config = reply.batch, reply.ticket, reply.config
    if not tickets.requester_answerable(batch, ticket, "answer"):
        return  # the answer stays on the ticket; the agent sees why in its events
    addresses = _customer_addresses(batch, ticket, config)
    others = [a for a in addresses if a != ticket.requester and sendable(a)]
    files = attached_files(reply.raw.data)
    thread = _customer_thread(batch, ticket, config)
    mail = sender.agent_answer(config, ticket, [ticket.requester], others, answer, files, thread)
    outbox.send_for_ticket(batch, ticket, mail, "agent")


def _customer_addresses(batch: Batch, ticket: Ticket, config: Config) -> list[str]:
    """The requester and the customer's addresses seen on the thread: never an agent, never
    the partner, never anyone outside the ticket's customer."""
    rows = batch.execute(
        select(TicketMessage.from_addr, TicketMessage.to_addrs).where(
            TicketMessage.ticket_id == ticket.id,
            TicketMessage.direction == "in",
            TicketMessage.kind == "customer",
        )
    ).all()
    seen = dict.fromkeys([ticket.requester, *(a for f, to in rows for a in [f, *to])])
    return [address for address in seen if _is_customers(address, ticket, config)]


def _is_customers(address: str, ticket: Ticket, config: Config) -> bool:
    if address == ticket.requester:
        return True
    if agent_for(address, config) or address.rpartition("@")[2] in config.partner.domains:
        return False
    customer = customer_for(address, config)
    return customer is not None and customer.id == ticket.customer_id


def _customer_thread(batch: Batch, ticket: Ticket, config: Config) -> list[str]:
    """Message-IDs the customer has seen, oldest first: theirs and what we sent them."""
    rows = batch.execute(
        select(
            TicketMessage.message_id,
            TicketMessage.direction,
            TicketMessage.kind,
            TicketMessage.to_addrs,
        )
        .where(TicketMessage.ticket_id == ticket.id, TicketMessage.message_id.is_not(None))
        .order_by(TicketMessage.id)
    ).all()
    thread = []
    for message_id, direction, kind, to in rows:
        theirs = direction == "in" and kind == "customer"
        ours = direction == "out" and all(_is_customers(a, ticket, config) for a in to)
        if theirs or ours:
            thread.append(message_id)
    return thread


def _record(reply: AgentReply, kind: str, text: str) -> None:
    tickets.record_incoming(reply.batch, reply.ticket, reply.message, kind, reply.raw.id, text)


def _refuse(reply: AgentReply, refusal: Refused) -> str:
    """Kept as a refused note; the agent concerned is told why (once an hour per problem)."""
    ticket = reply.ticket
    _record(reply, "note", f"Refused, not sent: {refusal.reason}\n\n{reply.message.text}")
    tickets.add_event(
        reply.batch,
        ticket,
        "agent_reply_refused",
        reason=refusal.reason,
        sender=reply.message.from_addr,
    )
    if reply.agent is not None:
        config, templates = reply.config, reply.templates
        notice = sender.refused_reply(
            config, templates, reply.agent, ticket, refusal.reason, refusal.problem
        )
        queue_once_an_hour(reply.batch, notice)
    return f"agent reply on ticket {ticket.number} refused: {refusal.reason}"
