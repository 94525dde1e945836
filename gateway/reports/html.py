"""The statement as one HTML page with its charts inline (SVG), for a browser or as the
attachment of the mailed statement. The page is the `statement.html` template of the language
(shipped in gateway/templates/<lang>/, overridable in `templates.folder` like the mail texts),
rendered with HTML escaping: customer names and ticket subjects come from mail."""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup

from gateway.delivery.templates import SHIPPED
from gateway.reports.charts import charts
from gateway.reports.formats import statement_values
from gateway.reports.statement import MonthReport


def _environment(language: str, override: Path | None) -> jinja2.Environment:
    folders = [SHIPPED / language, SHIPPED / "en"]
    if override:
        folders[:0] = [override / language, override / "en"]
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(f) for f in folders]),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def report_html(
    report: MonthReport,
    partner: str,
    language: str = "en",
    override: Path | None = None,
    internal: bool = True,  # false: the customer's own page (gateway/reports/formats.py)
) -> str:
    customers = []
    for statement in report.customers:
        values = statement_values(statement, language, internal)
        drawn = charts(statement, report.month, language)
        values["charts"] = {name: Markup(svg) for name, svg in drawn.items()}  # noqa: S704
        customers.append(values)
    template = _environment(language, override).get_template("statement.html")
    return template.render(month=str(report.month), partner=partner, customers=customers)
