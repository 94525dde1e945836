"""routing/service_requests.py: the Partner Center service request of an escalation."""

from __future__ import annotations

import pytest

from routing.service_requests import Progress, draft, progress

TOPICS = {"Service unavailable": "32569836", "*": "32444671"}


def test_a_draft_names_the_ticket_the_customer_and_the_tenant() -> None:
    request = draft(
        "[CONTOSO#1042]",
        "Exchange  down",
        "Fabrikam BV",
        "fabrikam.onmicrosoft.com",
        "Service unavailable",
        "urgent",
        "Nobody can send mail since 08:10.\n",
        TOPICS,
    )
    assert request.body() == {
        "Title": "[CONTOSO#1042] Service unavailable: Exchange down",
        "Description": "Customer: Fabrikam BV\nTenant: fabrikam.onmicrosoft.com\n"
        "Category: Service unavailable\n\nNobody can send mail since 08:10.",
        "Severity": "critical",
        "SupportTopicId": "32569836",
    }


@pytest.mark.parametrize(
    ("priority", "severity"),
    [("urgent", "critical"), ("high", "moderate"), ("normal", "minimal"), ("low", "minimal")],
)
def test_severity_follows_the_priority(priority: str, severity: str) -> None:
    assert draft("[T#1]", "s", "c", "t", "", priority, "x", TOPICS).severity == severity


def test_a_category_without_a_topic_takes_the_default_or_none() -> None:
    assert draft("[T#1]", "s", "c", "t", "Bug", "low", "x", TOPICS).support_topic_id == "32444671"
    assert draft("[T#1]", "s", "c", "t", "Bug", "low", "x", {}).support_topic_id is None


def test_a_long_subject_keeps_the_tag() -> None:
    title = draft("[T#1]", "x" * 400, "c", "t", "", "low", "x", {}).title
    assert title.startswith("[T#1] ") and len(title) == 256


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, "open", Progress(None, False)),
        ("open", "open", Progress(None, False)),
        ("open", "attention_needed", Progress("open", True)),
        ("open", "closed", Progress("open", True)),
        ("attention_needed", "open", Progress(None, True)),
    ],
)
def test_what_a_status_change_means(old: str | None, new: str, expected: Progress) -> None:
    assert progress(old, new) == expected
