"""gateway/reports/: a month's figures from plain facts, in each format, with known entries."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.delivery.templates import Templates
from gateway.reports.formats import report_csv, report_json, report_text
from gateway.reports.html import report_html
from gateway.reports.statement import (
    ClockOutcome,
    CustomerFacts,
    Month,
    TicketRecord,
    TimeLine,
    month_report,
)
from routing.calendar import ServiceCalendar
from routing.plans import Plan

NOVEMBER = Month(2026, 11)
PLAN = Plan(
    id="standard",
    calendar=ServiceCalendar("Mon-Fri 08:00-18:00", "Europe/Amsterdam", holidays="NL"),
    rate=Decimal(95),
    included_hours=Decimal(2),
    prepaid_hours=Decimal(10),
    rounding_minutes=15,
    minimum_minutes=15,
)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def fabrikam() -> CustomerFacts:
    return CustomerFacts(
        customer="fabrikam",
        name="Fabrikam <BV> & Co",  # escaped in HTML
        plan=PLAN,
        opened=(
            TicketRecord(1, "Printer", at(2), "handled"),
            TicketRecord(2, "Exchange down", at(3), "microsoft"),
            TicketRecord(3, "Two more seats", at(10), "sales"),
            TicketRecord(4, "Teams", at(24), "provider"),
        ),
        closed=((1, at(3)), (3, at(10)), (1, at(12))),  # 1 reopened and closed again
        outcomes=(
            ClockOutcome(1, "first_response", True, at(2, 11)),
            ClockOutcome(2, "first_response", False, at(3, 14)),
            ClockOutcome(1, "resolution", True, at(3)),
        ),
        time=(
            TimeLine(1, "Printer", "jan@contoso.example", at(2), 50, True, "drivers"),
            TimeLine(2, "Exchange down", "jan@contoso.example", at(3), 100, True, ""),
            TimeLine(2, "Exchange down", "sam@contoso.example", at(4), -10, True, "twice"),
            TimeLine(3, "Two more seats", "jan@contoso.example", at(10), 5, True, ""),
            TimeLine(4, "Teams", "sam@contoso.example", at(24), 30, False, "call, with Anna"),
        ),
        prepaid_left_before=Decimal(1),
    )


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return month_report(NOVEMBER, [fabrikam()])


def test_the_figures_of_a_known_month(report) -> None:  # type: ignore[no-untyped-def]
    data = report_json(report)
    assert data["month"] == "2026-11"
    (c,) = data["customers"]
    assert (c["tickets_opened"], c["tickets_closed"], c["escalated"]) == (4, 2, 2)
    assert c["by_route"] == {"handled": 1, "microsoft": 1, "provider": 1, "sales": 1}
    assert (c["sla_met"], c["sla_breached"]) == (2, 1)
    assert c["sla"]["first_response"] == {"met": 1, "breached": 1}
    # Ticket 1: 50 -> 60; 2: 90 -> 90; 3: 5 -> 15 (the minimum): 2.75 h, 2 included, 0.75
    # from the block of 1 h, nothing charged.
    assert (c["hours_billable"], c["hours_entered"], c["hours_nonbillable"]) == (2.75, 2.42, 0.5)
    assert (c["included_used"], c["prepaid_used"], c["prepaid_left"]) == (2.0, 0.75, 0.25)
    assert (c["charged_hours"], c["amount"], c["currency"]) == (0.0, 0.0, "EUR")
    assert c["breaches"] == [
        {"ticket": 2, "clock": "first_response", "due": "2026-11-03T15:00:00+01:00"}
    ]
    json.dumps(data)  # serialisable as it is


def test_csv_cells_from_mail_are_never_formulas() -> None:
    facts = fabrikam()
    line = TimeLine(
        6, '=HYPERLINK("http://evil.example")', "jan@contoso.example", at(26), 10, True, "@sum"
    )
    hostile = CustomerFacts(**{**facts.__dict__, "time": (line,)})
    (row,) = csv.DictReader(io.StringIO(report_csv(month_report(NOVEMBER, [hostile]))))
    assert row["subject"] == '\'=HYPERLINK("http://evil.example")' and row["note"] == "'@sum"
    assert row["minutes"] == "10"


def test_beyond_the_block_the_rate_is_charged() -> None:
    facts = fabrikam()
    extra = TimeLine(5, "Migration", "jan@contoso.example", at(25), 120, True, "")
    bigger = CustomerFacts(**{**facts.__dict__, "time": (*facts.time, extra)})
    (c,) = report_json(month_report(NOVEMBER, [bigger]))["customers"]
    assert (c["hours_billable"], c["charged_hours"], c["amount"]) == (4.75, 1.75, 166.25)


def test_csv_has_one_line_per_time_entry(report) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert len(rows) == 5
    assert rows[2]["minutes"] == "-10" and rows[2]["note"] == "twice"
    assert rows[4]["billable"] == "no" and rows[4]["note"] == "call, with Anna"
    assert rows[0]["at"] == "2026-11-02T11:00:00+01:00"
    assert {r["rate"] for r in rows} == {"95.00"}


@pytest.mark.parametrize(
    ("language", "words"), [("en", ["Amount:", "EUR 0.00"]), ("nl", ["Bedrag:", "2,75 uur"])]
)
def test_text_in_the_customers_language(report, language: str, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    text = report_text(report, Templates(), language)
    for word in words:
        assert word in text
    assert "breach" not in text or language == "en"


def test_html_has_its_three_charts_inline(report) -> None:  # type: ignore[no-untyped-def]
    page = report_html(report, "Contoso Cloud", "en")
    assert page.startswith("{") is False and "<!DOCTYPE html>" in page
    assert page.count("<svg") == 3 and "<?xml" not in page
    assert "Fabrikam &lt;BV&gt; &amp; Co" in page
    assert "Tickets per week" in page and "Service levels met" in page  # text stays text
    assert report_html(report, "Contoso Cloud", "en") == page  # the same figures, the same page


def test_a_month_is_written_yyyy_mm() -> None:
    assert Month.parse("2026-12").next == Month(2027, 1)
    assert Month.parse("2027-01").previous == Month(2026, 12)
    for wrong in ("2026-13", "26-11", "november"):
        with pytest.raises(ValueError):
            Month.parse(wrong)


def test_the_customers_own_statement_shows_no_agent_and_no_note(report) -> None:  # type: ignore[no-untyped-def]
    from gateway.reports.formats import customer_text

    (statement,) = report.customers
    for language in ("en", "nl"):
        text = customer_text(statement, "2026-11", Templates(), language, internal=False)
        page = report_html(report, "Contoso Cloud", language, internal=False)
        for shown in (text, page):
            assert "contoso.example" not in shown and "drivers" not in shown
            assert "call, with Anna" not in shown
        assert "   50 min" in text  # the entries themselves are there
    assert "jan@contoso.example" in report_html(report, "Contoso Cloud", "en")  # the partner's
