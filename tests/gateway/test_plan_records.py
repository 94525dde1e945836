"""Support plans on a real SQLite store: a month's facts from tickets, events, answers and time
entries; usage levels told once; what is sent once stays sent once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gateway.processing import plan_timers, sla_state, tickets, time_entries
from gateway.reports.formats import report_json
from gateway.reports.gather import month_facts
from gateway.reports.statement import Month, month_report
from gateway.store import sent_once
from gateway.store.batch import Batch
from gateway.store.engine import Store
from gateway.store.models import Ticket
from routing import Decision
from routing.billing import TimeEntry
from routing.calendar import ServiceCalendar
from routing.directory import Agent, Customer
from routing.plans import Plan

FABRIKAM = Customer(
    "fabrikam", "Fabrikam BV", ("fabrikam.example",), (), "", "direct", None, False, "nl"
)
PLAN = Plan(
    id="standard",
    calendar=ServiceCalendar("Mon-Fri 08:00-18:00", "Europe/Amsterdam"),
    first_response=(("normal", timedelta(hours=4)),),
    resolution=(("normal", timedelta(hours=20)),),
    rate=Decimal(100),
    included_hours=Decimal(1),
    prepaid_hours=Decimal(2),
    rounding_minutes=15,
)
HANDLE = Decision("handle", "helpdesk", "helpdesk", None)


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def open_at(store: Store, when: datetime, decision: Decision = HANDLE) -> Ticket:
    with store.session() as session:
        ticket = tickets.open_ticket(
            Batch.immediate(session), "Printer", "anna@fabrikam.example", "fabrikam", decision
        )
        ticket.created_at = ticket.updated_at = when
        return ticket


def event(store: Store, ticket: Ticket, when: datetime, what: str, **detail: object) -> None:
    with store.session() as session:
        session.add(tickets.Event(ticket_id=ticket.id, at=when, what=what, detail=detail))


def status(store: Store, ticket: Ticket, when: datetime, new: str) -> None:
    event(store, ticket, when, "status", new=new)
    with store.session() as session:
        row = session.get(Ticket, ticket.id)
        assert row is not None
        row.status, row.updated_at = new, when


def answer(store: Store, ticket: Ticket, when: datetime) -> None:
    with store.session() as session:
        tickets.add_message(
            Batch.immediate(session),
            ticket,
            direction="out",
            kind="agent",
            from_addr="support@contoso.example",
            to=["anna@fabrikam.example"],
            subject="Re",
            message_id="<a@b>",
            text="(answer)",
            date=when,
        )


def spend(
    store: Store, ticket: Ticket, when: datetime, minutes: int, billable: bool = True
) -> None:
    with store.session() as session:
        time_entries.record(
            session, ticket, "jan@contoso.example", TimeEntry(minutes, billable, ""), when
        )


def test_a_months_facts_from_the_database(store: Store) -> None:
    # Mon 2 Nov 09:00 UTC (10:00 local): answered in time, closed on the 3rd.
    first = open_at(store, utc(2, 9))
    answer(store, first, utc(2, 10))
    status(store, first, utc(3, 9), "closed")
    # Escalated to Microsoft, never answered: first response breached at 14:00 UTC.
    second = open_at(store, utc(4, 9), Decision("escalate", "microsoft", "helpdesk", None))
    # Opened in October and answered late in November: counts in November.
    third = open_at(store, utc(30, 16, month=10))
    answer(store, third, utc(3, 12))
    spend(store, first, utc(2, 11), 50)
    spend(store, second, utc(4, 11), 70)
    spend(store, second, utc(5, 11), 20, billable=False)
    spend(store, third, utc(28, 11, month=10), 60)  # October: the included hour

    with store.reader() as session:
        facts = month_facts(session, [(FABRIKAM, PLAN)], Month(2026, 11), utc(20, 12), None)
    (c,) = report_json(month_report(Month(2026, 11), facts))["customers"]
    assert (c["tickets_opened"], c["tickets_closed"], c["escalated"]) == (2, 1, 1)
    assert c["by_route"]["microsoft"] == 1 and c["by_route"]["handled"] == 1
    assert c["sla"]["first_response"] == {"met": 1, "breached": 2}
    assert c["sla"]["resolution"] == {"met": 1, "breached": 2}
    # 60 + 75 minutes: 1 h included, 1.25 h from the block of 2 h (untouched in October).
    assert (c["hours_billable"], c["included_used"], c["prepaid_used"]) == (2.25, 1.0, 1.25)
    assert (c["prepaid_left"], c["amount"], c["hours_nonbillable"]) == (0.75, 0.0, 0.33)


def test_a_tickets_sla_json_after_an_answer_and_a_pause(store: Store) -> None:
    ticket = open_at(store, utc(2, 9))  # 10:00 local
    answer(store, ticket, utc(2, 10))
    status(store, ticket, utc(2, 11), "waiting_customer")
    status(store, ticket, utc(3, 9), "open")
    with store.reader() as session:
        row = session.get(Ticket, ticket.id)
        assert row is not None
        facts = sla_state.facts_of(session, [row])[row.id]
    data = sla_state.sla_json(PLAN, sla_state.sla_of(PLAN, facts, utc(3, 10)))
    assert data["plan"] == "standard"
    assert data["first_response"]["met"] and not data["first_response"]["breached"]
    assert data["paused_seconds"] == 8 * 3600  # 12:00-18:00 and 08:00-10:00 local
    # 2 h ran before the pause; 18 h from 10:00 local on the 3rd: 8 h that day, 10 the next.
    assert data["resolution"]["due"] == "2026-11-04T18:00:00+01:00"


def test_usage_levels_are_told_once(store: Store) -> None:
    ticket = open_at(store, utc(2, 9))
    now = utc(2, 12)
    spend(store, ticket, utc(2, 10), 45)
    with store.session() as session:
        assert time_entries.usage_reached(session, "fabrikam", PLAN, now) == []
    spend(store, ticket, utc(2, 11), 5)  # 50 min: rounded to 60, all of the included hour
    with store.session() as session:
        reached = time_entries.usage_reached(session, "fabrikam", PLAN, now)
        assert [(u.allowance, u.percent) for u in reached] == [("included", 80), ("included", 100)]
    with store.session() as session:
        assert time_entries.usage_reached(session, "fabrikam", PLAN, now) == []
    spend(store, ticket, utc(2, 11), 100)  # 150 -> 150 min: 1.5 h of the 2 h block
    with store.session() as session:
        reached = time_entries.usage_reached(session, "fabrikam", PLAN, now)
        assert [(u.allowance, u.percent) for u in reached] == []
    spend(store, ticket, utc(2, 11), 20)  # 170 -> 180: 2 h of the block: 80 and 100 %
    with store.session() as session:
        reached = time_entries.usage_reached(session, "fabrikam", PLAN, now)
        assert [(u.allowance, u.percent) for u in reached] == [("prepaid", 80), ("prepaid", 100)]


def test_a_key_is_claimed_once(store: Store) -> None:
    with store.session() as session:
        assert sent_once.claim(session, "digest:2026-12-01")
        assert not sent_once.claim(session, "digest:2026-12-01")
    with store.session() as session:
        assert not sent_once.claim(session, "digest:2026-12-01")
        assert sent_once.claimed(session, "digest:2026-12-01")
    try:
        with store.session() as session:
            assert sent_once.claim(session, "statements:2026-11")
            raise RuntimeError("the mail could not be queued")
    except RuntimeError:
        pass
    with store.session() as session:  # rolled back with the work: done by the next run
        assert sent_once.claim(session, "statements:2026-11")


# --- the timers' findings ---

OFFICE = PLAN.calendar
JAN = Agent("jan@contoso.example", "Jan", ("helpdesk-agent",), ("*",), ("helpdesk",))
SAM = Agent("sam@contoso.example", "Sam", ("helpdesk-agent",), ("adatum",), ("helpdesk",))


def plan_for(customer_id: str | None) -> Plan:
    return PLAN


def alerts(store: Store, now: datetime) -> list[tuple[int, str, bool]]:
    with store.reader() as session:
        found = plan_timers.clock_alerts(session, plan_for, now)
    return [(a.ticket.number, a.clock, a.breach) for a in found]


def test_a_reminder_at_a_quarter_left_then_a_breach_each_once(store: Store) -> None:
    ticket = open_at(store, utc(2, 9))  # 10:00 local, due 14:00 local
    assert alerts(store, utc(2, 11, 59)) == []
    assert alerts(store, utc(2, 12)) == [(ticket.number, "first_response", False)]  # 1 h left
    event(store, ticket, utc(2, 12), "reminded", clock="first_response")
    assert alerts(store, utc(2, 12, 30)) == []
    assert alerts(store, utc(2, 13, 1)) == [(ticket.number, "first_response", True)]
    event(store, ticket, utc(2, 13, 1), "sla_breached", clock="first_response")
    assert alerts(store, utc(2, 14)) == []
    # Resolution (20 h, due 10:00 local on the 4th): a quarter left at 15:00 local on the 3rd.
    assert alerts(store, utc(3, 13, 59)) == []
    assert alerts(store, utc(3, 14)) == [(ticket.number, "resolution", False)]


def test_a_paused_clock_is_not_reminded_nor_breached(store: Store) -> None:
    ticket = open_at(store, utc(2, 9))  # due 13:00 UTC
    status(store, ticket, utc(2, 12, 30), "waiting_customer")  # 30 minutes left, not reminded
    assert alerts(store, utc(2, 13, 30)) == []  # waiting on the customer: nothing to do
    status(store, ticket, utc(2, 14), "open")
    assert alerts(store, utc(2, 14, 1)) == [(ticket.number, "first_response", False)]


def test_the_digest_is_due_in_service_hours_of_an_open_day() -> None:
    assert plan_timers.digest_day(OFFICE, utc(2, 6, 59)) is None  # 07:59 local
    assert plan_timers.digest_day(OFFICE, utc(2, 7)) == "2026-11-02"
    assert plan_timers.digest_day(OFFICE, utc(2, 17)) is None  # 18:00 local: closed
    assert plan_timers.digest_day(OFFICE, utc(7, 9)) is None  # a Saturday


def test_statements_are_due_from_the_first_working_day_on_for_a_week() -> None:
    # 1 Nov 2026 is a Sunday: Monday the 2nd at 08:00 local.
    assert plan_timers.statements_month(OFFICE, utc(1, 12)) is None
    assert plan_timers.statements_month(OFFICE, utc(2, 6, 59)) is None
    assert plan_timers.statements_month(OFFICE, utc(2, 7)) == Month(2026, 10)
    assert plan_timers.statements_month(OFFICE, utc(8, 7)) == Month(2026, 10)  # catching up
    assert plan_timers.statements_month(OFFICE, utc(9, 7)) is None  # a week on: too late


def test_each_agent_gets_the_tickets_they_may_act_on(store: Store) -> None:
    late = open_at(store, utc(2, 9))  # breached by 14:00 local
    due = open_at(store, utc(3, 7))  # 08:00 local: due at noon
    upstream = open_at(store, utc(2, 9))
    answer(store, upstream, utc(2, 10))
    status(store, upstream, utc(2, 10), "waiting_upstream")
    with store.session() as session:
        row = session.get(Ticket, upstream.id)
        assert row is not None
        row.assignee = "jan@contoso.example"
    with store.reader() as session:
        found = plan_timers.digests(session, [JAN, SAM], plan_for, OFFICE, utc(3, 7))
    (digest,) = found  # Sam may act on adatum only: nothing for him
    assert digest.agent is JAN
    assert [line.number for line in digest.breached] == [late.number]
    assert [line.number for line in digest.due_today] == [due.number]
    assert [line.number for line in digest.waiting_upstream] == [upstream.number]
