"""routing/sla.py: clocks in service time, paused while the ticket waits."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from routing.calendar import ServiceCalendar
from routing.sla import TicketFacts, clock, paused_spans, ticket_sla

AMS = ZoneInfo("Europe/Amsterdam")
OFFICE = ServiceCalendar("Mon-Fri 08:00-18:00", "Europe/Amsterdam", holidays="NL")
FOUR_HOURS = timedelta(hours=4)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=AMS)


def test_a_running_clock_counts_down_in_service_time() -> None:
    state = clock(OFFICE, local(1, 16), FOUR_HOURS, [], None, now=local(1, 20))
    assert state.due == local(2, 10)
    assert (state.met, state.breached, state.paused) == (False, False, False)
    assert state.left == timedelta(hours=2)  # two of four hours ran before 18:00


def test_an_answer_in_time_meets_it_and_a_late_one_breaches_it() -> None:
    met = clock(OFFICE, local(1, 9), FOUR_HOURS, [], stopped=local(1, 12), now=local(3, 9))
    late = clock(OFFICE, local(1, 9), FOUR_HOURS, [], stopped=local(1, 14), now=local(3, 9))
    assert (met.met, met.breached) == (True, False)
    assert (late.met, late.breached, late.left) == (False, True, timedelta(0))


def test_a_clock_past_due_without_a_stop_is_breached() -> None:
    state = clock(OFFICE, local(1, 9), FOUR_HOURS, [], None, now=local(1, 13, 1))
    assert (state.breached, state.met, state.left) == (True, False, timedelta(0))


def test_waiting_on_the_customer_pauses_the_clock() -> None:
    history = [(local(1, 10), "waiting_customer"), (local(2, 10), "open")]
    pauses = paused_spans(history, now=local(2, 11), upstream_pauses=False)
    state = clock(OFFICE, local(1, 9), FOUR_HOURS, pauses, None, now=local(2, 11))
    # One hour ran before the pause; three are left from 10:00 the next day.
    assert state.due == local(2, 13)
    assert not state.paused


def test_a_clock_paused_now_is_due_as_if_it_resumed_now() -> None:
    history = [(local(1, 10), "waiting_customer")]
    pauses = paused_spans(history, now=local(3, 15), upstream_pauses=False)
    state = clock(OFFICE, local(1, 9), FOUR_HOURS, pauses, None, now=local(3, 15))
    assert state.paused and state.due == local(3, 18)
    assert state.left == timedelta(hours=3)


def test_waiting_upstream_pauses_only_where_the_plan_says_so() -> None:
    history = [(local(1, 10), "waiting_upstream"), (local(1, 16), "open")]
    paused = paused_spans(history, now=local(2, 9), upstream_pauses=True)
    running = paused_spans(history, now=local(2, 9), upstream_pauses=False)
    # 09-10 runs; paused 10-16; three hours left: 16-18 and 08-09 the next day.
    assert clock(OFFICE, local(1, 9), FOUR_HOURS, paused, None, local(2, 9)).due == local(2, 9)
    assert clock(OFFICE, local(1, 9), FOUR_HOURS, running, None, local(2, 9)).due == local(1, 13)


def test_a_due_time_before_a_pause_is_not_moved_by_it() -> None:
    pauses = [(local(1, 15), local(2, 15))]
    assert clock(OFFICE, local(1, 9), FOUR_HOURS, pauses, None, now=local(1, 12)).due == local(
        1, 13
    )


def test_consecutive_waiting_statuses_are_one_pause() -> None:
    history = [
        (local(1, 10), "waiting_customer"),
        (local(1, 11), "waiting_upstream"),
        (local(1, 12), "open"),
        (local(1, 14), "closed"),
    ]
    assert paused_spans(history, now=local(2, 9), upstream_pauses=True) == [
        (local(1, 10), local(1, 12))
    ]


def facts(history: list[tuple[datetime, str]], answered: datetime | None = None) -> TicketFacts:
    closed = history[-1][0] if history and history[-1][1] == "closed" else None
    return TicketFacts(local(1, 9), "normal", tuple(history), answered, closed)


TARGETS = (FOUR_HOURS, timedelta(hours=20))


def test_a_ticket_answered_in_time_and_still_open() -> None:
    sla = ticket_sla(OFFICE, TARGETS, True, facts([], answered=local(1, 11)), now=local(2, 9))
    assert sla.first_response is not None and sla.first_response.met
    assert sla.resolution is not None and sla.resolution.due == local(3, 9)
    assert not sla.breached and sla.running() == [sla.resolution]


def test_a_pause_counts_only_service_time_and_moves_both_clocks() -> None:
    history = [(local(1, 10), "waiting_customer"), (local(2, 10), "open")]
    sla = ticket_sla(OFFICE, TARGETS, True, facts(history), now=local(2, 11))
    assert sla.paused == timedelta(hours=10)  # 10-18 and 08-10
    assert sla.first_response is not None and sla.first_response.due == local(2, 13)
    assert sla.resolution is not None and sla.resolution.due == local(4, 9)


def test_resolution_stops_at_the_close_and_stands_still_while_closed() -> None:
    closed = [(local(1, 12), "closed")]
    sla = ticket_sla(OFFICE, TARGETS, True, facts(closed), now=local(9, 9))
    assert sla.resolution is not None and sla.resolution.met
    # Closed in time without an answer (the customer solved it): nothing is late.
    assert sla.first_response is not None and sla.first_response.met
    reopened = [(local(1, 15), "closed"), (local(2, 15), "open")]
    again = ticket_sla(OFFICE, TARGETS, True, facts(reopened), now=local(2, 16))
    # 6 hours ran before the close; 14 are left from 15:00 on the 2nd.
    assert again.resolution is not None and again.resolution.due == local(4, 9)


def test_a_plan_without_a_resolution_target_has_one_clock() -> None:
    sla = ticket_sla(OFFICE, (FOUR_HOURS, None), True, facts([]), now=local(1, 10))
    assert sla.resolution is None and sla.first_response is not None
