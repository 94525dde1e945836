"""Agents' replies: checked (signed address, sender, Authentication-Results, roles), then their
commands carried out and their answer sent to the customer from the partner address.

Nothing an agent writes reaches a customer unless every check passes; a refused reply is kept on
the ticket as a refused note and the agent the address belongs to is told why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import outbox, sender, tickets, triage_labels
from gateway.config import PRIORITIES, Agent, Config
from gateway.handovers import escalation_address, hand_over, party_address
from gateway.identity import Sender, agent_for, customer_for
from gateway.notices import queue_notice
from gateway.reply_address import UPSTREAM_TAG, agent_tag
from gateway.storage import RawMessage, Ticket, TicketMessage
from gateway.templates import Templates
from gateway.threader import ThreadMatch
from parsers.authresults import passes_for, results_of
from parsers.commands import Command, split_commands
from parsers.message import ParsedMessage
from parsers.payloads import attached_files
from routing.intents import INTENTS

HELPDESK = frozenset(
    {"answer", "note", "close", "pending", "reopen", "assign", "priority", "intent"}
)
# Like GDAP roles, each includes the one before it.
PERMISSIONS = {
    "helpdesk-agent": HELPDESK,
    "service-support-admin": HELPDESK | {"escalate"},
    "admin-agent": HELPDESK | {"escalate", "forward"},
}
COMMANDS = frozenset(
    {"note", "close", "pending", "reopen", "assign", "priority", "escalate", "forward", "intent"}
)

STATUS_COMMANDS = {"close": "closed", "pending": "waiting_customer", "reopen": "open"}


class Refused(Exception):
    """The reply is not acted on. `problem` groups notices: one per agent and problem an hour."""

    def __init__(self, reason: str, problem: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problem = problem


@dataclass(frozen=True)
class AgentReply:
    session: Session
    raw: RawMessage
    message: ParsedMessage
    ticket: Ticket
    agent: Agent | None  # the agent the signed address names, else the agent in From:
    config: Config
    templates: Templates


def is_agent_mail(match: ThreadMatch, who: Sender) -> bool:
    """Mail to an agent's signed address, or from an agent's address onto a ticket."""
    signed_for_agent = match.by == "reply_address" and match.reply_tag != UPSTREAM_TAG
    return signed_for_agent or who.role == "agent"


def handle_agent_mail(
    session: Session,
    raw: RawMessage,
    message: ParsedMessage,
    match: ThreadMatch,
    who: Sender,
    config: Config,
    templates: Templates,
) -> str:
    agent = _agent_named_by(match, config) if match.by == "reply_address" else who.agent
    reply = AgentReply(session, raw, message, match.ticket, agent, config, templates)
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
    agent, message = reply.agent, reply.message
    if agent is None:
        raise Refused("the reply address names no configured agent", "unknown-agent")
    if match.by != "reply_address":
        # From: alone proves nothing: anyone can write an agent's address there.
        raise Refused("it was not sent to the signed reply address of a notification", "unsigned")
    if message.from_addr != agent.address:
        raise Refused(f"it came from {message.from_addr}, not from {agent.address}", "sender")
    authserv_id = reply.config.trusted_authserv_id
    if authserv_id:
        stated = [
            value for name, value in message.headers if name.lower() == "authentication-results"
        ]
        domain = agent.address.rpartition("@")[2]
        if not passes_for(results_of(stated, authserv_id), domain):
            reason = f"{authserv_id} shows no DKIM or DMARC pass for {domain}"
            raise Refused(reason, "unauthenticated")


def _check_allowed(reply: AgentReply, commands: Sequence[Command], answer: str) -> None:
    agent, ticket = reply.agent, reply.ticket
    assert agent is not None
    if not agent.may_act_on(ticket.customer_id):
        raise Refused(f"{agent.address} may not act on customer {ticket.customer_id}", "customer")
    allowed = frozenset().union(*(PERMISSIONS[role] for role in agent.roles))
    wanted = [c.name for c in commands]
    unknown = [name for name in wanted if name not in COMMANDS]
    if unknown:
        known = ", ".join(f"#{c}" for c in sorted(COMMANDS))
        raise Refused(f"unknown command #{unknown[0]} (known: {known})", f"raw-{reply.raw.id}")
    if answer and "note" not in wanted:
        wanted.append("answer")
    for name in wanted:
        if name not in allowed:
            roles = ", ".join(agent.roles)
            raise Refused(f"your roles ({roles}) do not allow #{name}", f"raw-{reply.raw.id}")
    for command in commands:
        _check_argument(reply, command)


def _check_argument(reply: AgentReply, command: Command) -> None:
    config, ticket = reply.config, reply.ticket
    problem = f"raw-{reply.raw.id}"
    if command.name == "assign":
        target = _agent_called(command.argument, config)
        if target is None or not target.may_act_on(ticket.customer_id):
            raise Refused(f"#assign: no agent {command.argument!r} for this customer", problem)
    elif command.name == "priority" and command.argument.lower() not in PRIORITIES:
        raise Refused(f"#priority: use one of {', '.join(PRIORITIES)}", problem)
    elif command.name == "forward" and not party_address(config, command.argument):
        raise Refused(f"#forward: no party {command.argument!r}", problem)
    elif command.name == "escalate" and not escalation_address(config, ticket.customer_id):
        raise Refused("#escalate: no escalation address for this customer", problem)
    elif command.name == "intent" and command.argument.strip().lower() not in INTENTS:
        raise Refused(f"#intent: use one of {', '.join(INTENTS)}", problem)


def _agent_called(name: str, config: Config) -> Agent | None:
    wanted = name.strip().lower()
    for agent in config.agents:
        local = agent.address.partition("@")[0]
        if wanted in (agent.address, local, agent.name.lower()):
            return agent
    return None


# --- acting ---


def _carry_out(reply: AgentReply, commands: Sequence[Command], answer: str) -> str:
    session, ticket = reply.session, reply.ticket
    is_note = any(c.name == "note" for c in commands)
    _record(reply, "note" if is_note else "agent", answer)
    for command in commands:
        _run(reply, command)
    if answer and not is_note:
        _relay_answer(reply, answer)
        if ticket.status == "new":
            tickets.set_status(session, ticket, "open", "an agent answered")
    done = ", ".join(f"#{c.name}" for c in commands) or "answer"
    return f"agent {reply.message.from_addr} on ticket {ticket.number}: {done}"


def _run(reply: AgentReply, command: Command) -> None:
    session, ticket, agent = reply.session, reply.ticket, reply.agent
    assert agent is not None
    if command.name in STATUS_COMMANDS:
        tickets.set_status(session, ticket, STATUS_COMMANDS[command.name], f"#{command.name}")
    elif command.name == "assign":
        target = _agent_called(command.argument, reply.config)
        assert target is not None
        ticket.assignee = target.address
        tickets.add_event(session, ticket, "assigned", agent=target.address, by=agent.address)
    elif command.name == "priority":
        ticket.priority = command.argument.lower()
        tickets.add_event(session, ticket, "priority", priority=ticket.priority)
    elif command.name == "intent":
        triage_labels.keep(session, ticket, command.argument.strip().lower(), agent.address)
    elif command.name in ("escalate", "forward"):
        config = reply.config
        if command.name == "escalate" and ticket.route_action == "handle":
            # The agent corrects a route that stayed here: a label, where its intent is known.
            corrected = triage_labels.intent_of_escalation(session, ticket, command.argument)
            if corrected:
                triage_labels.keep(session, ticket, corrected, agent.address)
        if command.name == "escalate":
            to, purpose, category = (
                escalation_address(config, ticket.customer_id),
                "escalation",
                command.argument,
            )
        else:
            to, purpose, category = party_address(config, command.argument), "forward", ""
        assert to is not None  # checked before anything was done
        hand_over(session, config, reply.templates, ticket, to, purpose, category)


def _relay_answer(reply: AgentReply, answer: str) -> None:
    session, ticket, config = reply.session, reply.ticket, reply.config
    if not tickets.requester_answerable(session, ticket, "answer"):
        return  # the answer stays on the ticket; the agent sees why in its events
    addresses = _customer_addresses(session, ticket, config)
    others = [a for a in addresses if a != ticket.requester and sender.sendable(a)]
    files = attached_files(reply.raw.data)
    thread = _customer_thread(session, ticket, config)
    mail = sender.agent_answer(config, ticket, [ticket.requester], others, answer, files, thread)
    outbox.send_for_ticket(session, ticket, mail, "agent")


def _customer_addresses(session: Session, ticket: Ticket, config: Config) -> list[str]:
    """The requester and the customer's addresses seen on the thread: never an agent, never
    the partner, never anyone outside the ticket's customer."""
    rows = session.execute(
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


def _customer_thread(session: Session, ticket: Ticket, config: Config) -> list[str]:
    """Message-IDs the customer has seen, oldest first: theirs and what we sent them."""
    rows = session.execute(
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
    tickets.record_incoming(reply.session, reply.ticket, reply.message, kind, reply.raw.id, text)


def _refuse(reply: AgentReply, refusal: Refused) -> str:
    """Kept as a refused note; the agent concerned is told why (once an hour per problem)."""
    ticket = reply.ticket
    _record(reply, "note", f"Refused, not sent: {refusal.reason}\n\n{reply.message.text}")
    tickets.add_event(
        reply.session,
        ticket,
        "agent_reply_refused",
        reason=refusal.reason,
        sender=reply.message.from_addr,
    )
    if reply.agent is not None:
        subject = (
            f"your reply on ticket {sender.ticket_tag(reply.config, ticket.number)} was not sent"
        )
        text = (
            f"Your reply on ticket {sender.ticket_tag(reply.config, ticket.number)} "
            f"({ticket.subject}) was not sent to the customer, and no command in it was "
            f"carried out:\n\n{refusal.reason}.\n\nIt is kept on the ticket as a note."
        )
        queue_notice(
            reply.session,
            reply.config,
            reply.templates,
            reply.agent,
            f"reply-{refusal.problem}",
            subject,
            text,
        )
    return f"agent reply on ticket {ticket.number} refused: {refusal.reason}"
