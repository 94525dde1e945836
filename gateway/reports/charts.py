"""The statement's charts as inline SVG (matplotlib): tickets per week, SLA attainment, and
hours used against the hours included.

matplotlib is imported here only, when an HTML statement is made: it takes a good part of a
second. Figures are made with `matplotlib.figure.Figure`, not pyplot, so no global state is
shared between threads; text stays text in the SVG (smaller, and searchable), and the ids are
salted with a fixed string so the same figures give the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from gateway.reports.statement import (
    CustomerStatement,
    Month,
    billable_hours_by_day,
    per_week,
    weeks,
)
from routing.plans import CLOCKS

TITLES = {
    "en": {
        "weeks": "Tickets per week",
        "opened": "opened",
        "closed": "closed",
        "week": "week",
        "sla": "Service levels met",
        "met": "met",
        "breached": "breached",
        "first_response": "first response",
        "resolution": "resolution",
        "hours": "Hours used",
        "used": "billable hours entered",
        "included": "included",
        "block": "included + prepaid block",
        "day": "day of the month",
    },
    "nl": {
        "weeks": "Tickets per week",
        "opened": "geopend",
        "closed": "gesloten",
        "week": "week",
        "sla": "Serviceniveaus gehaald",
        "met": "gehaald",
        "breached": "niet gehaald",
        "first_response": "eerste reactie",
        "resolution": "oplossing",
        "hours": "Gebruikte uren",
        "used": "geboekte factureerbare uren",
        "included": "inbegrepen",
        "block": "inbegrepen + strippenkaart",
        "day": "dag van de maand",
    },
}
_BLUE, _GREY, _GREEN, _RED, _ORANGE = "#2f6fb3", "#9aa5b1", "#3c8d50", "#c0392b", "#e08e0b"


def charts(statement: CustomerStatement, month: Month, language: str) -> dict[str, str]:
    """The three charts of a statement, by name, as SVG elements to put in HTML."""
    words = TITLES.get(language, TITLES["en"])
    return {
        "weeks": _weeks_chart(statement, month, words),
        "sla": _sla_chart(statement, words),
        "hours": _hours_chart(statement, month, words),
    }


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "gatewayd", "font.size": 9})
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.6, 2.8), layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _weeks_chart(statement: CustomerStatement, month: Month, words: dict[str, str]) -> str:
    figure, axes = _figure()
    mondays = weeks(month)
    plan = statement.plan
    opened = per_week([t.opened for t in statement.facts.opened], month, plan)
    closed = per_week([at for _, at in statement.facts.closed], month, plan)
    positions = range(len(mondays))
    axes.bar([p - 0.2 for p in positions], opened, 0.4, label=words["opened"], color=_BLUE)
    axes.bar([p + 0.2 for p in positions], closed, 0.4, label=words["closed"], color=_GREY)
    axes.set_xticks(list(positions), [f"{words['week']} {m.isocalendar().week}" for m in mondays])
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title(words["weeks"])
    _legend(figure)
    return _svg(figure)


def _sla_chart(statement: CustomerStatement, words: dict[str, str]) -> str:
    figure, axes = _figure()
    met = [statement.sla(clock)[0] for clock in CLOCKS]
    breached = [statement.sla(clock)[1] for clock in CLOCKS]
    labels = [words[clock] for clock in CLOCKS]
    axes.barh(labels, met, color=_GREEN, label=words["met"])
    axes.barh(labels, breached, left=met, color=_RED, label=words["breached"])
    for row, (ok, late) in enumerate(zip(met, breached, strict=True)):
        if ok + late:
            axes.text(ok + late, row, f" {ok / (ok + late):.0%}", va="center")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_title(words["sla"])
    _legend(figure)
    return _svg(figure)


def _hours_chart(statement: CustomerStatement, month: Month, words: dict[str, str]) -> str:
    figure, axes = _figure()
    used = [float(h) for h in billable_hours_by_day(statement, month)]
    days = list(range(1, len(used) + 1))
    axes.step(days, used, where="post", color=_BLUE, label=words["used"])
    plan = statement.plan
    _level(axes, plan.included_hours, words["included"], _GREEN, "--")
    block = plan.included_hours + statement.facts.prepaid_left_before
    if statement.facts.prepaid_left_before > 0:
        _level(axes, block, words["block"], _ORANGE, ":")
    axes.set_xlim(1, len(days))
    axes.set_ylim(bottom=0)
    axes.set_xlabel(words["day"])
    axes.set_title(words["hours"])
    _legend(figure)
    return _svg(figure)


def _legend(figure: Any) -> None:
    """Below the plot, where it hides no bar or line."""
    figure.legend(loc="outside lower center", ncol=3, frameon=False)


def _level(axes: Any, hours: Decimal, label: str, color: str, style: str) -> None:
    if hours > 0:
        axes.axhline(float(hours), color=color, linestyle=style, label=label)


_PROLOG = re.compile(r"^.*?(?=<svg)", re.DOTALL)


def _svg(figure: Any) -> str:
    """The figure as an <svg> element: without the XML declaration and DOCTYPE, which have
    no place inside HTML, and without a date, so the same figures give the same text."""
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    return _PROLOG.sub("", out.getvalue(), count=1)


def chart_names() -> Sequence[str]:
    return ("weeks", "sla", "hours")
