"""routing/sla.py: clocks in service time, paused while the ticket waits."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from routing.calendar import ServiceCalendar
from routing.sla import clock, paused_spans

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
