from datetime import datetime

from routing.hours import parse_hours, within


def test_weekdays_office_hours() -> None:
    spans = parse_hours("Mon-Fri 08:00-18:00")
    assert spans is not None
    assert within(spans, datetime(2026, 11, 25, 9, 30))  # a Wednesday
    assert not within(spans, datetime(2026, 11, 25, 18, 0))
    assert not within(spans, datetime(2026, 11, 28, 10, 0))  # a Saturday


def test_several_spans_and_full_day_names() -> None:
    spans = parse_hours("Monday-Friday 08:00-18:00, Sat 10:00-14:00")
    assert spans is not None
    assert within(spans, datetime(2026, 11, 28, 11, 0))
    assert not within(spans, datetime(2026, 11, 29, 11, 0))  # a Sunday


def test_free_text_is_not_understood() -> None:
    assert parse_hours("office hours, ask us") is None
    assert parse_hours("24/7") is None
