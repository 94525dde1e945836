"""routing/service_requests.py: the Partner Center service request of an escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.service_requests import (
    News,
    Progress,
    RequestNote,
    draft,
    fingerprint,
    news,
    progress,
    retry_delay,
    sign_in_warning,
)

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


def test_news_of_a_poll_tells_the_status_and_microsofts_notes_not_ours() -> None:
    ours = {fingerprint("Trace  attached.")}
    notes = [
        RequestNote("Microsoft Support", "2026-12-01T10:00:00Z", "Which users?"),
        RequestNote("Jan", "2026-12-01T11:00:00Z", "Trace attached."),
        RequestNote("Microsoft Support", "2026-12-01T12:00:00Z", "Fixed on our side."),
    ]
    first = news("616", "open", "attention_needed", notes[:1], seen=0, ours=ours)
    assert first.progress == Progress("open", True)
    assert first.texts == (
        "Service request 616 is now waiting for the partner (attention needed).",
        "Note from Microsoft Support on service request 616 (2026-12-01T10:00:00Z):\n\n"
        "Which users?",
    )
    later = news("616", "attention_needed", "attention_needed", notes, seen=1, ours=ours)
    assert [t.splitlines()[-1] for t in later.texts] == ["Fixed on our side."]
    assert later.progress == Progress("open", True)  # a note moves the ticket
    assert news("616", "open", "open", notes[1:2], seen=0, ours=ours) == News(
        Progress(None, False), ()
    )


def test_backoff_doubles_up_to_the_maximum() -> None:
    delays = [retry_delay(n, timedelta(seconds=30), timedelta(hours=1)) for n in (1, 2, 3, 9, 99)]
    assert delays == [timedelta(seconds=s) for s in (30, 60, 120, 3600, 3600)]


def test_the_sign_in_warning_comes_two_weeks_before_90_days() -> None:
    renewed = datetime(2026, 1, 1, tzinfo=UTC)
    assert sign_in_warning(renewed, renewed + timedelta(days=75)) is None
    soon = sign_in_warning(renewed, renewed + timedelta(days=77))
    assert soon is not None and "ends on 2026-04-01" in soon
    over = sign_in_warning(renewed, renewed + timedelta(days=91))
    assert over is not None and "has expired" in over
