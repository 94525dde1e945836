"""A month's report as JSON, CSV (one line per time entry, for the partner's invoicing) and
text (the `statement` template per language, also the body of the mailed statement)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from gateway.delivery.templates import Templates
from gateway.reports.statement import ROUTES, CustomerStatement, MonthReport
from routing.plans import CLOCKS

CSV_COLUMNS = (
    "month",
    "customer",
    "ticket",
    "subject",
    "agent",
    "at",
    "minutes",
    "billable",
    "note",
    "plan",
    "rate",
    "currency",
)


def _number(value: Decimal, places: int = 2) -> float:
    return float(round(value, places))


def customer_json(statement: CustomerStatement) -> dict[str, Any]:
    facts, charge, plan = statement.facts, statement.charge, statement.plan
    local = plan.calendar.local  # times as the customer's clock shows them
    return {
        "customer": facts.customer,
        "name": facts.name,
        "plan": plan.id,
        "currency": plan.currency,
        "rate": _number(plan.rate),
        "tickets_opened": len(facts.opened),
        "tickets_closed": len({number for number, _ in facts.closed}),
        "escalated": statement.escalated,
        "by_route": statement.by_route,
        "sla_met": statement.sla_met,
        "sla_breached": statement.sla_breached,
        "sla_attainment": (
            round(statement.attainment, 4) if statement.attainment is not None else None
        ),
        "sla": {
            clock: dict(zip(("met", "breached"), statement.sla(clock), strict=True))
            for clock in CLOCKS
        },
        "breaches": [
            {"ticket": o.ticket, "clock": o.clock, "due": local(o.at).isoformat()}
            for o in statement.breaches
        ],
        "hours_billable": _number(charge.billable_hours),
        "hours_entered": _number(Decimal(statement.minutes(True)) / 60),
        "hours_nonbillable": _number(statement.hours_nonbillable),
        "hours_included": _number(plan.included_hours),
        "included_used": _number(charge.included_used),
        "prepaid_used": _number(charge.prepaid_used),
        "prepaid_left": _number(charge.prepaid_left),
        "charged_hours": _number(charge.charged_hours),
        "amount": _number(charge.amount),
        "time": [
            {
                "ticket": line.ticket,
                "agent": line.agent,
                "at": local(line.at).isoformat(),
                "minutes": line.minutes,
                "billable": line.billable,
                "note": line.note,
            }
            for line in statement.facts.time
        ],
    }


def report_json(report: MonthReport) -> dict[str, Any]:
    return {"month": str(report.month), "customers": [customer_json(c) for c in report.customers]}


def report_csv(report: MonthReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(CSV_COLUMNS)
    for statement in report.customers:
        plan = statement.plan
        for line in sorted(statement.facts.time, key=lambda t: (t.at, t.ticket)):
            writer.writerow(
                [
                    str(report.month),
                    statement.customer,
                    line.ticket,
                    _cell(line.subject),
                    _cell(line.agent),
                    plan.calendar.local(line.at).isoformat(timespec="seconds"),
                    line.minutes,
                    "yes" if line.billable else "no",
                    _cell(line.note),
                    plan.id,
                    f"{plan.rate:.2f}",
                    plan.currency,
                ]
            )
    return out.getvalue()


def _cell(text: str) -> str:
    """Text as a spreadsheet shows it, not as a formula: subjects come from customers' mail, and
    "=HYPERLINK(...)" in a cell would run when the partner opens the CSV (OWASP, CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


_DECIMAL_MARK = {"nl": ","}


def number_text(value: Decimal | float | int, language: str, places: int = 2) -> str:
    """2.5 as "2.50" or, in Dutch, "2,50"."""
    text = f"{Decimal(str(value)):,.{places}f}"
    if _DECIMAL_MARK.get(language) == ",":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return text


def statement_values(
    statement: CustomerStatement, language: str, internal: bool = True
) -> dict[str, Any]:
    """What the `statement` templates (text and HTML) are given. Not `internal` (the customer's
    own statement): no agent's address and no note of a time entry, which may be internal."""
    figures = customer_json(statement)
    if not internal:
        figures["time"] = [{**t, "agent": "", "note": ""} for t in figures["time"]]

    def number(value: Any, places: int = 2) -> str:
        return number_text(value, language, places)

    return {
        "c": figures,
        "routes": ROUTES,
        "clocks": CLOCKS,
        "number": number,
        "has_block": statement.plan.prepaid_hours > 0,
        "internal": internal,
    }


def customer_text(
    statement: CustomerStatement,
    month: str,
    templates: Templates,
    language: str,
    internal: bool = True,
) -> str:
    values = statement_values(statement, language, internal)
    return templates.render("statement", language, month=month, **values)


def report_text(report: MonthReport, templates: Templates, language: str = "en") -> str:
    if not report.customers:
        return f"{report.month}: no customers with a plan\n"
    month = str(report.month)
    parts = [customer_text(c, month, templates, language) for c in report.customers]
    return "\n".join(parts)
