"""Processing, apart from intake: parse → identify → thread → route → act, for each stored raw
message. The stages are listed in `process_raw`; each is a function of typed inputs.

Outcomes are decided here, in one place: a message the parser cannot read, or one that makes a
stage fail, is quarantined with its reason and traceback and kept for `gatewayd replay`; a
storage fault is temporary and the message stays `new` for the next round.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.config import Config, Customer
from gateway.delivery import outbox, sender
from gateway.delivery.templates import Templates
from gateway.logs import log_event
from gateway.processing import tickets
from gateway.processing.agent_replies import handle_agent_mail, is_agent_mail
from gateway.processing.handovers import escalation_address, hand_over, party_address
from gateway.processing.identity import Author, agents_to_notify, identify
from gateway.processing.outages import join_incident, link_to_escalation
from gateway.processing.service_health import ServiceHealth
from gateway.processing.threader import ThreadMatch, find_ticket, foreign_references
from gateway.processing.triage_model import Triager, mail_text
from gateway.runtime.parse_ahead import Parsed
from gateway.store import batch as deferred
from gateway.store.engine import Store
from gateway.store.faults import StorageUnavailable
from gateway.store.models import RawMessage, RawState, Ticket, TicketMessage, TicketStatus, utcnow
from parsers.closings import without_closing
from parsers.message import ParsedMessage, Unparseable, parse_message
from parsers.subjects import case_numbers
from routing import Decision, Facts, decide
from routing.hours import parse_hours, within
from routing.intents import Triage
from routing.service_health import Incident
from routing.triage import detect_language, document

log = logging.getLogger("gateway.processor")

ROBOT_KINDS = ("auto_reply", "bounce", "list")
# What became of a message, as /metrics counts it and `gatewayd import` sums it up
# (gateway/runtime/metrics.py PROCESSING_OUTCOMES).
OUTCOMES = ("ticket", "follow_up", "agent_reply", "robot", "quarantined", "other")
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Context:
    config: Config
    templates: Templates
    health: ServiceHealth = field(default=None)  # type: ignore[assignment]
    triager: Triager = field(default=None)  # type: ignore[assignment]

    # False for `gatewayd import --no-mail`: nothing is queued, and tickets stay closed.
    mail: bool = True

    def __post_init__(self) -> None:
        if self.health is None:
            object.__setattr__(self, "health", ServiceHealth(self.config))
        if self.triager is None:
            object.__setattr__(self, "triager", Triager(self.config.base_dir / "var"))

    @property
    def triages(self) -> bool:
        """Only a policy with rules on intents pays for classifying its mail."""
        return any(key == "intent" for rule in self.config.rules for key, _ in rule.when)


def process_pending(
    store: Store,
    context: Context,
    limit: int = 50,
    ahead: Parsed | None = None,
    on_picked: Callable[[Sequence[int]], None] = lambda ids: None,
    observe: Callable[[str, float], None] = lambda outcome, seconds: None,
) -> int:
    """Process up to `limit` new messages in one transaction; returns how many were handled.

    `ahead`: the batch the parser stage chose and parsed (gateway/runtime/parse_ahead.py); without
    it, the first new messages. `on_picked` hears the batch's ids once they are taken, before they
    are processed. `observe` hears each message's outcome and its seconds since it was stored,
    once the batch is committed. The batch ends early when intake waits for the write lock, so
    a 250 never waits long.
    """

    def new_messages(session: Session) -> Sequence[int]:
        statement = select(RawMessage.id).where(RawMessage.state == RawState.NEW)
        if ahead is not None:
            statement = statement.where(RawMessage.id.in_(ahead.ids))
        # Several daemons on one PostgreSQL database each take other messages (SKIP LOCKED);
        # SQLite has one writer at a time anyway and ignores the clause.
        ids = session.scalars(
            statement.order_by(RawMessage.id).limit(limit).with_for_update(skip_locked=True)
        ).all()
        on_picked(ids)
        return ids

    parsed = ahead.messages if ahead else {}
    triaged = ahead.triaged if ahead else {}
    batch = _Batch(new_messages, (RawState.NEW,), store.should_yield, parsed, triaged)
    outcomes = _process(store, context, batch)
    now = utcnow()
    for outcome in outcomes:
        seconds = (now - outcome.received_at).total_seconds() if outcome.received_at else 0.0
        observe(outcome.kind, seconds)
    return len(outcomes)


def process_again(store: Store, context: Context, ids: list[int], states: tuple[str, ...]) -> int:
    """`gatewayd replay`: process the given messages again if they are still in `states`."""
    return len(_process(store, context, _Batch(lambda session: ids, states, lambda: False)))


def process_imported(store: Store, context: Context, ids: list[int], mail: bool) -> list[str]:
    """`gatewayd import`: process messages it stored as `importing`; their outcomes. With
    `mail=False` (archive mode) nothing is queued for anyone, the tickets they open are closed
    (the past is on record, and no reminder falls due for it), and a follow-up changes no
    ticket's status."""
    quiet = replace(context, mail=mail)
    batch = _Batch(lambda session: ids, (RawState.IMPORTING,), lambda: False)
    return [outcome.kind for outcome in _process(store, quiet, batch)]


@dataclass(frozen=True)
class Handled:
    """What process_raw did with a message: its outcome (one of OUTCOMES), a description for
    the log, and the ticket it opened or was added to, if any."""

    kind: str
    text: str
    ticket: Ticket | None = None


@dataclass(frozen=True)
class _Batch:
    pick: Callable[[Session], Sequence[int]]
    states: tuple[str, ...]  # a message picked but no longer in one of these is left alone
    should_yield: Callable[[], bool]
    parsed: dict[int, ParsedMessage | Unparseable] = field(default_factory=dict)
    triaged: dict[int, Triage] = field(default_factory=dict)  # by the parser stage


@dataclass(frozen=True)
class _Outcome:
    """What became of one message, logged once its batch is committed."""

    event: str
    level: int
    fields: dict[str, Any]
    kind: str  # one of OUTCOMES
    received_at: datetime | None  # when the message was stored


class _TryCarefully(Exception):
    """A message failed in a batch run without savepoints."""


def _process(store: Store, context: Context, batch: _Batch) -> list[_Outcome]:
    """One transaction for the batch. Quarantining a message that fails mid-way needs a
    savepoint around each message, and savepoints cost a third of the processing of a small
    mail; so a batch runs without them, and only when one of its messages fails is it rolled
    back and run again with them. Nothing leaves the transaction before it commits: the outbox
    is in it, and the outcomes are logged after it."""
    try:
        outcomes = _run(store, context, batch, careful=False)
    except _TryCarefully:
        outcomes = _run(store, context, batch, careful=True)
    for outcome in outcomes:
        log_event(log, outcome.event, level=outcome.level, **outcome.fields)
    return outcomes


def _run(store: Store, context: Context, batch: _Batch, careful: bool) -> list[_Outcome]:
    outcomes = []
    with (
        store.session() as session,
        deferred.deferring(session),
        outbox.queueing(session, context.mail),
    ):
        ids = batch.pick(session)
        parsed_ahead = _load_raws(session, [raw_id for raw_id in ids if raw_id in batch.parsed])
        _count_acknowledgements_ahead(session, [batch.parsed[raw_id] for raw_id in parsed_ahead])
        untriaged = {i: batch.parsed[i] for i in parsed_ahead if i not in batch.triaged}
        triaged = {**batch.triaged, **_triage_ahead(context, untriaged)}
        for raw_id in ids:
            raw = parsed_ahead.pop(raw_id, None) or _load_raw(session, raw_id)
            if raw.state in batch.states:  # another process may have taken it meanwhile
                parsed = batch.parsed.get(raw_id)
                triage = triaged.get(raw_id)
                outcomes.append(_process_contained(session, raw, context, careful, parsed, triage))
            if batch.should_yield():
                break
    return outcomes


# Core, built once: an ORM load and an ORM flush of each raw message cost more than its
# processing. One message's bytes at a time, so that a batch of large ones does not pile up;
# only those the parser stage took, each at most its MAX_BYTES, are loaded together.
_RAW = RawMessage.__table__
_RAW_COLUMNS = select(
    _RAW.c.id, _RAW.c.state, _RAW.c.mail_from, _RAW.c.rcpt_to, _RAW.c.data, _RAW.c.received_at
)
_LOAD_RAW = _RAW_COLUMNS.where(_RAW.c.id == bindparam("raw_id"))
_LOAD_RAWS = _RAW_COLUMNS.where(_RAW.c.id.in_(bindparam("raw_ids", expanding=True)))
_MARK_DONE = (
    update(_RAW)
    .where(_RAW.c.id == bindparam("raw_id"))
    .values(
        state=RawState.DONE, processed_at=bindparam("now"), error=None, attempts=_RAW.c.attempts + 1
    )
)


def _load_raw(session: Session, raw_id: int) -> RawMessage:
    """The stored message, not attached to the session: processing never changes it."""
    row = session.connection().execute(_LOAD_RAW, {"raw_id": raw_id}).one()
    return RawMessage(**row._mapping)


def _count_acknowledgements_ahead(
    session: Session, parsed: Sequence[ParsedMessage | Unparseable]
) -> None:
    """Each new ticket's acknowledgement asks how many its requester got this hour: for the
    senders of the messages parsed ahead, that is counted once for the batch."""
    senders = [message.from_addr for message in parsed if isinstance(message, ParsedMessage)]
    keys = [sender.acknowledgement_rate_key(address) for address in senders if address]
    outbox.count_ahead(session, keys, _HOUR)


def _triage_ahead(
    context: Context, parsed: dict[int, ParsedMessage | Unparseable]
) -> dict[int, Triage]:
    """The batch's mails that may open tickets, classified at once: one matrix product costs
    less than a classification per mail."""
    wanted = {
        raw_id: message
        for raw_id, message in parsed.items()
        if isinstance(message, ParsedMessage) and message.kind not in ROBOT_KINDS
    }
    if not wanted or not context.triages:
        return {}
    results = context.triager.classify_many([mail_text(m) for m in wanted.values()], False)
    return dict(zip(wanted, results, strict=True))


def _load_raws(session: Session, raw_ids: list[int]) -> dict[int, RawMessage]:
    if not raw_ids:
        return {}
    rows = session.connection().execute(_LOAD_RAWS, {"raw_ids": raw_ids})
    return {row.id: RawMessage(**row._mapping) for row in rows}


def _process_contained(
    session: Session,
    raw: RawMessage,
    context: Context,
    careful: bool,
    parsed: ParsedMessage | Unparseable | None,
    triage: Triage | None = None,
) -> _Outcome:
    since = deferred.mark(session)
    try:
        with session.begin_nested() if careful else nullcontext():
            handled = process_raw(session, raw, context, parsed, triage)
            if not context.mail and handled.kind == "ticket" and handled.ticket is not None:
                tickets.set_status(session, handled.ticket, TicketStatus.CLOSED, "imported")
    except (StorageUnavailable, OperationalError):
        raise  # the database, not the message: the whole batch is tried again later
    except Exception as exc:  # bad input or a bug: keep the message, keep the daemon running
        if not careful:
            raise _TryCarefully from exc
        deferred.take_back(session, since)  # the savepoint took back what was written
        if isinstance(exc, Unparseable):
            return _quarantine(session, raw, str(exc))
        return _quarantine(session, raw, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    deferred.write(session, _MARK_DONE, {"raw_id": raw.id, "now": utcnow()})
    fields = {"raw": raw.id, "outcome": handled.text}
    return _Outcome("message.processed", logging.INFO, fields, handled.kind, raw.received_at)


def _quarantine(session: Session, raw: RawMessage, reason: str) -> _Outcome:
    raw = session.get_one(RawMessage, raw.id)
    raw.state, raw.error, raw.processed_at = RawState.QUARANTINED, reason, utcnow()
    raw.attempts += 1
    session.flush()
    session.expunge(raw)  # its bytes need not stay in memory for the rest of the batch
    fields = {"raw": raw.id, "reason": reason.splitlines()[0]}
    return _Outcome("message.quarantined", logging.WARNING, fields, "quarantined", raw.received_at)


def process_raw(
    session: Session,
    raw: RawMessage,
    context: Context,
    parsed: ParsedMessage | Unparseable | None = None,
    triage: Triage | None = None,
) -> Handled:
    """The stages, in order. Returns what was done. `parsed`: what the
    parser stage made of `raw.data`, if it did; `triage`: what triage made of it, if its batch
    was classified ahead."""
    if isinstance(parsed, Unparseable):
        raise parsed
    message = parsed or parse_message(raw.data, raw.mail_from)
    who = identify(message.from_addr, context.config)
    customer_id = who.customer.id if who.customer else None
    staff = who.role in ("upstream", "agent")
    match = find_ticket(session, message, raw.rcpt_to, customer_id, context.config, staff)
    kind = _kind(message, raw)
    if kind in ROBOT_KINDS:
        return Handled("robot", _keep_robot_mail(session, raw, message, match, kind))
    if who.role == "partner":  # a loop through a forwarding rule
        return Handled("other", "own mail came back; kept, nothing sent")
    if match and is_agent_mail(match, who):
        config, templates = context.config, context.templates
        text = handle_agent_mail(session, raw, message, match, who, config, templates)
        return Handled("agent_reply", text)
    if match:
        text = _follow_up(session, raw, message, match.ticket, who, context)
        return Handled("follow_up", text, match.ticket)
    if who.role == "upstream":
        return Handled("other", "upstream mail without a ticket; kept")
    return _new_ticket(session, raw, message, who, context, triage)


def _kind(message: ParsedMessage, raw: RawMessage) -> str:
    """The parser's kind, but mail from the null sender is never a person's (RFC 5321 §4.5.5);
    RFC 3834 auto-replies use the null sender too, so the parser's auto_reply stands."""
    if message.kind in ("bounce", "auto_reply"):
        return message.kind
    return "bounce" if raw.mail_from == "" else message.kind


def _keep_robot_mail(
    session: Session, raw: RawMessage, message: ParsedMessage, match: ThreadMatch | None, kind: str
) -> str:
    """Auto-replies, bounces and list mail never open a ticket and never get an answer."""
    if match is None:
        return f"{kind}; kept, no ticket"
    tickets.record_incoming(session, match.ticket, message, "system", raw.id)
    tickets.add_event(session, match.ticket, kind, recipients=list(message.bounced_recipients))
    return f"{kind}; attached to ticket {match.ticket.number}"


def _follow_up(
    session: Session,
    raw: RawMessage,
    message: ParsedMessage,
    ticket: Ticket,
    who: Author,
    context: Context,
) -> str:
    kind = "upstream" if who.role == "upstream" else "customer"
    if kind == "customer":
        message = _without_known_closing(session, ticket, message)
    tickets.record_incoming(session, ticket, message, kind, raw.id)
    _note_defects(session, ticket, message)
    if kind == "upstream":
        tickets.keep_case_numbers(session, ticket, case_numbers(message.subject))
    reopens = (
        (TicketStatus.WAITING_UPSTREAM,)
        if kind == "upstream"
        else (TicketStatus.CLOSED, TicketStatus.WAITING_CUSTOMER)
    )
    # Archive mode (import --no-mail): the past neither reopens a ticket nor closes one.
    if ticket.status in reopens and context.mail:
        tickets.set_status(session, ticket, TicketStatus.OPEN, f"{kind} wrote")
    _notify_agents(session, ticket, message, context, followup=True)
    return f"follow-up on ticket {ticket.number}"


# A sender's closing block repeats from mail to mail; a few of their latest mails show it.
_EARLIER_MAILS = 5


def _without_known_closing(
    session: Session, ticket: Ticket, message: ParsedMessage
) -> ParsedMessage:
    """A step beyond the parser, as Zammad does: the closing block (company lines, phone
    numbers, notices) that this sender's earlier mails on the ticket ended with is cut from
    the new text; the sign-off stays (parsers/closings.py)."""
    earlier = session.scalars(
        select(TicketMessage.text)
        .where(
            TicketMessage.ticket_id == ticket.id,
            TicketMessage.direction == "in",
            TicketMessage.from_addr == message.from_addr,
        )
        .order_by(TicketMessage.id.desc())
        .limit(_EARLIER_MAILS)
    ).all()
    text = without_closing(message.text, earlier)
    return message if text == message.text else replace(message, text=text)


def _new_ticket(
    session: Session,
    raw: RawMessage,
    message: ParsedMessage,
    who: Author,
    context: Context,
    triage: Triage | None = None,
) -> Handled:
    config = context.config
    customer = who.customer
    incident = context.health.incident_for(message.subject, request_text(message), utcnow())
    if triage is None and context.triages:
        triage = context.triager.classify(mail_text(message), evidence=False)
    decision = route(message, who, config, known_issue=incident is not None, triage=triage)
    ticket = tickets.open_ticket(
        session, message.subject, message.from_addr, customer.id if customer else None, decision
    )
    tickets.record_incoming(session, ticket, message, "customer", raw.id)
    _note_defects(session, ticket, message)
    tickets.add_event(
        session,
        ticket,
        "routed",
        action=decision.action,
        target=decision.target,
        rule=decision.rule,
        **_triage_fields(triage),
    )
    if incident:
        tickets.add_event(session, ticket, "known_issue", id=incident.id, title=incident.title)
    _note_foreign_references(session, ticket, message, customer)
    language = triage.language if triage else detect_language(document(mail_text(message)))
    _acknowledge(session, ticket, message, context, incident, language)
    if decision.reply:
        _reply_with(session, ticket, message, decision.reply, context, language)
    suggestion = decision.suggestion.line() if decision.suggestion else None
    _notify_agents(session, ticket, message, context, followup=False, suggestion=suggestion)
    _act_on(session, ticket, decision, context, incident)
    return Handled("ticket", f"new ticket {ticket.number} ({decision.action} -> {decision.target})",
                   ticket)  # fmt: skip


def _note_foreign_references(
    session: Session, ticket: Ticket, message: ParsedMessage, customer: Customer | None
) -> None:
    """The message names another customer's ticket in its references: it was not threaded
    there, and the agents see the link."""
    if not (message.in_reply_to or message.references):
        return
    for other in foreign_references(session, message, customer.id if customer else None):
        tickets.add_event(session, ticket, "references_other_ticket", number=other.number)


def _note_defects(session: Session, ticket: Ticket, message: ParsedMessage) -> None:
    """What was odd about the mail and what the parser assumed, on the ticket for the agents."""
    if message.defects:
        tickets.add_event(session, ticket, "defects", defects=list(message.defects))


def _triage_fields(triage: Triage | None) -> dict[str, Any]:
    if triage is None:
        return {}
    return {
        "intent": triage.top,
        "confidence": round(triage.confidence, 3),
        "language": triage.language,
    }


def _reply_with(
    session: Session,
    ticket: Ticket,
    message: ParsedMessage,
    template: str,
    context: Context,
    language: str = "",
) -> None:
    """A rule's `reply`: a template sent to the customer besides the acknowledgement."""
    config = context.config
    if not tickets.requester_answerable(session, ticket, "reply"):
        return
    customer = customer_of(ticket, config)
    mail = sender.template_reply(
        config, context.templates, ticket, message, customer, template, language
    )
    if outbox.sent_recently(session, mail.rate_key or "", _HOUR) >= config.support.acks_per_hour:
        tickets.add_event(session, ticket, "reply_suppressed", reason="rate limit")
        return
    outbox.send_for_ticket(session, ticket, mail)
    tickets.add_event(session, ticket, "replied", template=template)


def _act_on(
    session: Session,
    ticket: Ticket,
    decision: Decision,
    context: Context,
    incident: Incident | None,
) -> None:
    """A rule that escalates or forwards sends the ticket upstream at once; escalations of
    several customers about one problem go up once (gateway/processing/outages.py)."""
    config = context.config
    if decision.action == "escalate":
        to = escalation_address(config, ticket.customer_id)
        purpose, category = "escalation", decision.category or ""
    elif decision.action == "forward":
        to, purpose, category = party_address(config, decision.target), "forward", ""
    elif incident is not None:
        _cluster_known_issue(session, ticket, incident, context)
        return
    else:
        return
    if to is None:  # e.g. no microsoft.escalation_address: the agents must decide
        tickets.add_event(session, ticket, "handover_impossible", reason="no address to send to")
        return
    if purpose == "escalation":
        cluster = join_incident(session, config, f"escalation|{category}|{to}", ticket, utcnow())
        if cluster.escalated_ticket is not None:
            link_to_escalation(session, ticket, cluster)
            return
        cluster.escalated_ticket = ticket.number
    hand_over(session, config, context.templates, ticket, to, purpose, category)


def _cluster_known_issue(
    session: Session, ticket: Ticket, incident: Incident, context: Context
) -> None:
    config = context.config
    to = escalation_address(config, ticket.customer_id)
    if to is None:
        return
    cluster = join_incident(session, config, f"known|{incident.id}|{to}", ticket, utcnow())
    if cluster.escalated_ticket is not None:
        link_to_escalation(session, ticket, cluster)
    elif len(cluster.customers) >= config.cluster_after:
        category = f"Known issue {incident.id} affects {len(cluster.customers)} customers"
        cluster.escalated_ticket = ticket.number
        hand_over(session, config, context.templates, ticket, to, "escalation", category)


def route(
    message: ParsedMessage,
    who: Author,
    config: Config,
    known_issue: bool = False,
    triage: Triage | None = None,
) -> Decision:
    customer = who.customer
    facts = Facts(
        subject=message.subject,
        text=message.text,
        sender=message.from_addr,
        customer=customer.id if customer else None,
        billing=customer.billing if customer else None,
        provider=customer.provider if customer else None,
        direct_microsoft=bool(customer and customer.direct_microsoft),
        has_attachment=any(not a.inline for a in message.attachments),  # not signature logos
        known_issue=known_issue,
        in_hours=in_service_hours(config, utcnow()),
        headers=message.headers,
        forwarded_text=mail_text(message).forwarded_text,
        triage=triage,
    )
    return decide(facts, config.rules)


def request_text(message: ParsedMessage) -> str:
    """What the customer asks: the new text, and the mail it forwards ("see below")."""
    if message.forwarded is None:
        return message.text
    return f"{message.text}\n\n{message.forwarded.text}"


def in_service_hours(config: Config, now: datetime) -> bool:
    """Within `support.hours` in `support.timezone`. Hours written as free text that the
    "Mon-Fri 08:00-18:00" form does not cover count as always open: the rule then never
    sends mail elsewhere by mistake."""
    spans = parse_hours(config.support.hours)
    return spans is None or within(spans, now.astimezone(ZoneInfo(config.support.timezone)))


def _acknowledge(
    session: Session,
    ticket: Ticket,
    message: ParsedMessage,
    context: Context,
    incident: Incident | None = None,
    language: str = "",
) -> None:
    config = context.config
    if not tickets.requester_answerable(session, ticket, "acknowledgement"):
        return
    customer = customer_of(ticket, config)
    templates = context.templates
    mail = sender.acknowledgement(config, templates, ticket, message, customer, incident, language)
    # Two auto-responders answering each other would loop forever; a cap per sender ends it.
    if outbox.sent_recently(session, mail.rate_key or "", _HOUR) >= config.support.acks_per_hour:
        tickets.add_event(session, ticket, "acknowledgement_suppressed", reason="rate limit")
        return
    outbox.send_for_ticket(session, ticket, mail)


def _notify_agents(
    session: Session,
    ticket: Ticket,
    message: ParsedMessage,
    context: Context,
    followup: bool,
    suggestion: str | None = None,
) -> None:
    config = context.config
    customer = customer_of(ticket, config)
    agents = agents_to_notify(ticket.customer_id, ticket.queue, config)
    unserved = not agents
    if unserved:  # a ticket nobody would hear of: the admin-agents must, and learn why
        agents = [agent for agent in config.agents if "admin-agent" in agent.roles]
    for agent in agents:
        mail = sender.agent_notification(
            config,
            context.templates,
            ticket,
            message,
            customer,
            agent,
            followup,
            unserved=unserved,
            suggestion=suggestion,
        )
        outbox.send_for_ticket(session, ticket, mail)
    if agents:
        addresses = [a.address for a in agents]
        reason = {"reason": "no agent of the queue may act on the customer"} if unserved else {}
        tickets.add_event(session, ticket, "notified", agents=addresses, **reason)


def customer_of(ticket: Ticket, config: Config) -> Customer | None:
    return config.customer(ticket.customer_id)
