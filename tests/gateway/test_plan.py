"""gateway/processing/plan.py: a stage's effects are data until `apply` writes them, in order."""

from __future__ import annotations

from sqlalchemy import select

from gateway.config import Config
from gateway.delivery.sender import OutgoingMail
from gateway.delivery.templates import Templates
from gateway.processing import tickets
from gateway.processing.plan import Note, Plan, Send, Status, apply
from gateway.store.batch import writing
from gateway.store.engine import Store
from gateway.store.models import Event, OutboxMessage, Ticket, TicketStatus
from routing import Decision

HANDLE = Decision("handle", "helpdesk", "helpdesk", None)
MAIL = OutgoingMail(
    envelope_from="support@contoso.example",
    recipients=("anna@fabrikam.example",),
    data=b"Subject: hi\r\n\r\nhi\r\n",
    purpose="acknowledgement",
    subject="hi",
    message_id="<a1@contoso.example>",
    rate_key="acknowledgement:anna@fabrikam.example",
)


def test_a_requester_no_mail_can_reach_is_a_note_not_a_mail() -> None:
    plan = Plan(Ticket(requester="Big Bug bb@bug.com"))

    assert not plan.answerable("acknowledgement")
    assert plan.effects == [
        Note("acknowledgement_impossible", {"reason": "address cannot be answered"})
    ]
    assert plan.mails() == []


def test_apply_writes_the_effects_in_the_order_planned(store: Store, config: Config) -> None:
    with store.session() as session, writing(session) as batch:
        ticket = tickets.open_ticket(batch, "Help", "anna@fabrikam.example", "fabrikam", HANDLE)
        plan = Plan(ticket)
        plan.note("routed", action="handle")
        plan.status(TicketStatus.OPEN, "customer wrote")
        plan.send(MAIL)
        plan.note("notified", agents=["bob@contoso.example"])
        assert [type(e) for e in plan.effects] == [Note, Status, Send, Note]
        assert session.scalars(select(Event.what)).all() == []  # nothing written yet

        apply(batch, plan, config, Templates())

    with store.reader() as session:
        events = session.scalars(select(Event.what).order_by(Event.id)).all()
        outbox = session.scalars(select(OutboxMessage.purpose)).all()
        status = session.scalars(select(Ticket.status)).one()
    assert events == ["routed", "status", "notified"]
    assert outbox == ["acknowledgement"]
    assert status == TicketStatus.OPEN
