"""routing/service_health.py and service_health_sources.py: Graph and config incidents, which are
active, and which one a mail is about."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from routing.service_health import Incident, active, matching, why_matched, words_of
from routing.service_health_sources import incidents_from_graph, incidents_from_known_issues

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def graph_issue(**fields: object) -> dict[str, object]:
    """A Graph service health issue as `GET /admin/serviceAnnouncement/issues` returns it."""
    issue: dict[str, object] = {
        "id": "EX512345",
        "service": "Exchange Online",
        "title": "Some users can't send mail from Outlook",
        "status": "serviceDegradation",
        "startDateTime": "2026-05-04T08:00:00Z",
        "endDateTime": None,
        "isResolved": False,
        "impactDescription": "Users may be unable to send email messages.",
        "feature": "E-Mail and calendar access",
        "featureGroup": "E-Mail and calendar access",
        "classification": "incident",
        "lastModifiedDateTime": "2026-05-04T09:00:00Z",
        "origin": "microsoft",
        "posts": [],
    }
    issue.update(fields)
    return issue


def incident(
    ident: str = "EX1",
    service: str = "Exchange Online",
    words: tuple[str, ...] = ("exchange", "outlook", "send"),
    start: datetime | None = None,
    end: datetime | None = None,
    resolved: bool = False,
) -> Incident:
    return Incident(
        ident, service, f"title of {ident}", "investigating", words, start, end, resolved
    )


@dataclass(frozen=True)
class KnownIssue:
    """The shape of gateway.config.KnownIssue, which this module may not import."""

    id: str
    service: str
    title: str
    status: str
    words: tuple[str, ...]
    until: datetime | None


# --- Graph JSON ----------------------------------------------------------------------------------


def test_graph_response_shape_gives_every_field() -> None:
    incidents, problems = incidents_from_graph({"value": [graph_issue()]})

    assert problems == []
    assert incidents == [
        Incident(
            id="EX512345",
            service="Exchange Online",
            title="Some users can't send mail from Outlook",
            status="serviceDegradation",
            words=("exchange", "send", "mail", "outlook"),
            start=datetime(2026, 5, 4, 8, 0, tzinfo=UTC),
            end=None,
            resolved=False,
        )
    ]


def test_a_bare_list_is_accepted_too() -> None:
    incidents, problems = incidents_from_graph([graph_issue(), graph_issue(id="TM1")])

    assert [i.id for i in incidents] == ["EX512345", "TM1"]
    assert problems == []


def test_bad_entries_are_left_out_with_one_problem_each() -> None:
    data = {
        "value": [
            graph_issue(id="GOOD1"),
            "not an issue",
            graph_issue(id=None),
            graph_issue(id="X", title=""),
            graph_issue(id="X", startDateTime="yesterday"),
            graph_issue(id="X", endDateTime=20260504),
            graph_issue(id="X", isResolved="no"),
            graph_issue(id=42),
            graph_issue(id="GOOD2"),
        ]
    }

    incidents, problems = incidents_from_graph(data)

    assert [i.id for i in incidents] == ["GOOD1", "GOOD2"]
    assert problems == [
        "value[1]: not an object, got str",
        "value[2]: no id",
        "value[3]: no title",
        "value[4].startDateTime: not an ISO 8601 time, got 'yesterday'",
        "value[5].endDateTime: not an ISO 8601 time, got 20260504",
        "value[6].isResolved: must be true or false, got 'no'",
        "value[7].id: must be a string, got 42",
    ]


def test_bad_entries_of_a_bare_list_are_named_by_index() -> None:
    _, problems = incidents_from_graph([graph_issue(), {"title": "no id here"}])

    assert problems == ["[1]: no id"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            {"@odata.context": "x"},
            'value: missing or not a list (expected {"value": [...]} or a list)',
        ),
        (
            {"value": {"id": "EX1"}},
            'value: missing or not a list (expected {"value": [...]} or a list)',
        ),
        ("EX1", 'expected {"value": [...]} or a list, got str'),
        (None, 'expected {"value": [...]} or a list, got NoneType'),
    ],
)
def test_a_document_of_the_wrong_shape_is_one_problem(data: object, problem: str) -> None:
    assert incidents_from_graph(data) == ([], [problem])


def test_optional_graph_fields_may_be_missing() -> None:
    entry = {"id": "SP1", "title": "Users can't open files in SharePoint"}

    (only,), problems = incidents_from_graph([entry])

    assert problems == []
    assert (only.service, only.status, only.start, only.end, only.resolved) == (
        "",
        "investigating",
        None,
        None,
        False,
    )
    assert only.words == ("open", "files", "sharepoint")


def test_graph_times_with_seven_decimals_or_no_zone_are_utc() -> None:
    (only,), _ = incidents_from_graph(
        [
            graph_issue(
                startDateTime="2026-05-04T08:00:00.1234567Z", endDateTime="2026-05-05T08:00:00"
            )
        ]
    )

    assert only.start == datetime(2026, 5, 4, 8, 0, 0, 123456, tzinfo=UTC)
    assert only.end == datetime(2026, 5, 5, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("is_resolved", "status", "resolved"),
    [
        (True, "serviceRestored", True),
        (False, "serviceRestored", True),  # Graph says the service works again
        (False, "falsePositive", True),
        (False, "postIncidentReviewPublished", True),
        (False, "extendedRecovery", False),
        (False, "investigating", False),
    ],
)
def test_resolved_by_flag_or_by_final_status(
    is_resolved: bool, status: str, resolved: bool
) -> None:
    (only,), _ = incidents_from_graph([graph_issue(isResolved=is_resolved, status=status)])

    assert only.resolved is resolved


def test_graph_words_drop_stop_words_short_words_and_numbers_but_keep_products() -> None:
    assert words_of("Microsoft Teams Users may be unable to join meetings") == (
        "teams",
        "join",
        "meetings",
    )
    assert words_of("Microsoft 365 suite Some users may see delays in OneDrive for Business") == (
        "delays",
        "onedrive",
    )
    assert words_of("SharePoint Online An issue with the UI of lists") == ("sharepoint", "lists")


# --- [[known_issues]] ----------------------------------------------------------------------------


def test_known_issues_become_incidents_with_until_as_end() -> None:
    until = datetime(2026, 12, 1, tzinfo=UTC)
    issue = KnownIssue(
        "EX123456",
        "Exchange Online",
        "Some users can't send mail from Outlook",
        "investigating",
        ("Exchange", "outlook", "send"),
        until,
    )

    assert incidents_from_known_issues([issue]) == [
        Incident(
            id="EX123456",
            service="Exchange Online",
            title="Some users can't send mail from Outlook",
            status="investigating",
            words=("exchange", "outlook", "send"),
            start=None,
            end=until,
            resolved=False,
        )
    ]


def test_a_known_issue_without_words_takes_them_from_service_and_title() -> None:
    issue = KnownIssue("TM1", "Microsoft Teams", "Calls drop after a minute", "open", (), None)

    (only,) = incidents_from_known_issues([issue])

    assert only.words == ("teams", "calls", "drop", "minute")
    assert only.end is None


def test_a_known_issue_with_a_final_status_is_resolved() -> None:
    issue = KnownIssue("EX1", "Exchange Online", "Mail delayed", "resolved", ("mail",), None)

    assert incidents_from_known_issues([issue])[0].resolved is True


# --- active ---------------------------------------------------------------------------------


def test_active_keeps_only_incidents_in_force_at_now() -> None:
    hour = timedelta(hours=1)
    incidents = [
        incident("OPEN"),
        incident("STARTED", start=NOW - hour, end=NOW + hour),
        incident("RESOLVED", resolved=True),
        incident("ENDED", start=NOW - 2 * hour, end=NOW - hour),
        incident("ENDS_NOW", end=NOW),
        incident("LATER", start=NOW + hour),
        incident("STARTS_NOW", start=NOW),
    ]

    assert [i.id for i in active(incidents, NOW)] == ["OPEN", "STARTED", "STARTS_NOW"]


def test_active_takes_a_now_without_zone_as_utc() -> None:
    ended = incident("ENDED", end=NOW - timedelta(minutes=1))
    running = incident("RUNNING", end=NOW + timedelta(minutes=1))

    assert active([ended, running], NOW.replace(tzinfo=None)) == [running]


# --- matching ------------------------------------------------------------------------------------

EXCHANGE = incident("EX1", "Exchange Online", ("exchange", "outlook", "send"))
TEAMS = incident("TM1", "Microsoft Teams", ("teams", "join", "meetings"))


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Outlook problem", "Since this morning Outlook will not send any mail."),
        ("Outlook verzendt niets meer", ""),
        ("Storing", "Bij ons verstuurt Outlook geen berichten."),
        ("", "OUTLOOK CAN'T SEND"),
        ("Mail", "Outlook can’t send since 9:00"),  # Outlook's typographic apostrophe
    ],
)
def test_english_and_dutch_mail_about_the_exchange_incident(subject: str, text: str) -> None:
    assert matching([EXCHANGE, TEAMS], subject, text) == EXCHANGE


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Teams doet het niet", ""),
        ("Can't join meetings", "Since the update none of us can join a Teams meeting."),
        ("Vergadering", "We kunnen niet deelnemen aan vergaderingen in Teams."),
        ("Teams down?", ""),
    ],
)
def test_english_and_dutch_mail_about_the_teams_incident(subject: str, text: str) -> None:
    assert matching([EXCHANGE, TEAMS], subject, text) == TEAMS


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Extra licences", "Please add five Business Premium licences."),
        ("Outlook", "How do I add a shared calendar in Outlook?"),  # a product, no complaint
        ("Vraag", "Kunnen jullie een nieuwe gebruiker aanmaken?"),
        ("Sending", "We want to send newsletters to our customers."),  # one word, not a product
        ("Printer", "The printer is broken again."),  # a complaint, no product
        ("", ""),
    ],
)
def test_mail_about_something_else_matches_nothing(subject: str, text: str) -> None:
    assert matching([EXCHANGE, TEAMS], subject, text) is None


@pytest.mark.parametrize(
    "signature",
    [
        "Sent from Outlook for iOS",
        "Get Outlook for Android<https://aka.ms/ghei36>",
        "Verzonden vanuit Outlook voor iOS",
        "Outlook voor Android downloaden",
        "Sent from my iPhone",
        "-- Sent from Outlook",
    ],
)
def test_a_mobile_signature_naming_outlook_is_not_a_match(signature: str) -> None:
    only_outlook = incident("OL1", "Exchange Online", ("outlook",))
    text = f"Hi, I can't find last month's invoice, can you resend it?\n\n{signature}"

    assert matching([EXCHANGE, only_outlook], "Invoice", text) is None


def test_a_sentence_starting_like_a_signature_is_kept() -> None:
    text = "Sent from Outlook but it never arrives, and I cannot send anything now."

    assert matching([EXCHANGE], "Mail", text) == EXCHANGE


def test_words_match_whole_not_inside_other_words() -> None:
    teamsite = incident("SP1", "SharePoint Online", ("site", "sync"))

    assert matching([TEAMS, teamsite], "Teamsites", "The website resyncs are slow") is None


def test_an_incident_with_one_word_matches_on_that_word() -> None:
    defender = incident("DF1", "", ("quarantine",))

    assert matching([defender], "Quarantine", "Where do I find held mail?") == defender
    assert matching([defender], "Exchange", "mail is held") is None


def test_a_phrase_word_matches_as_a_phrase() -> None:
    mfa = incident("ID1", "Microsoft Entra", ("sign in", "authenticator"))

    assert matching([mfa], "", "Users cannot sign in with the Authenticator app") == mfa
    assert matching([mfa], "", "Please sign the contract in the authenticator app") is None


def test_the_service_product_counts_even_when_not_among_the_words() -> None:
    calendar = incident("EX2", "Exchange Online", ("calendar", "sharing"))

    assert matching([calendar], "Exchange agenda", "Ons gedeelde agenda is leeg") == calendar


def test_the_incident_with_most_matching_words_wins() -> None:
    meetings = incident("TM1", "Microsoft Teams", ("teams", "meetings"), start=NOW)
    recordings = incident(
        "TM2", "Microsoft Teams", ("teams", "meetings", "recording"), start=NOW - timedelta(days=3)
    )

    chosen = matching([meetings, recordings], "Teams", "The recording of our meetings is empty.")

    assert chosen == recordings


def test_a_tie_goes_to_the_most_recent_start() -> None:
    older = incident("TM1", "Microsoft Teams", ("teams", "chat"), start=NOW - timedelta(days=2))
    newer = incident("TM2", "Microsoft Teams", ("teams", "calls"), start=NOW - timedelta(hours=1))
    unknown = incident("TM3", "Microsoft Teams", ("teams", "presence"))

    assert matching([older, unknown, newer], "Teams doet het niet", "") == newer
    assert matching([older, unknown], "Teams doet het niet", "") == older  # no start = oldest


def test_a_full_tie_goes_to_the_incident_given_first() -> None:
    first, second = (
        incident("A", words=("outlook", "send")),
        incident("B", words=("outlook", "send")),
    )

    assert matching([first, second], "Outlook cannot send", "") == first
    assert matching([second, first], "Outlook cannot send", "") == second


def test_resolved_incidents_never_match() -> None:
    assert matching([replace(EXCHANGE, resolved=True)], "Outlook verzendt niets meer", "") is None


def test_graph_and_known_issue_incidents_match_the_same_mail() -> None:
    graph, _ = incidents_from_graph({"value": [graph_issue()]})
    known = incidents_from_known_issues(
        [KnownIssue("EX9", "Exchange Online", "Mail stuck", "investigating", ("exchange",), None)]
    )

    assert matching(active(graph, NOW), "Outlook verzendt niets meer", "") == graph[0]
    assert matching(active(known, NOW), "Exchange", "mail blijft hangen") == known[0]


# --- the service implied, symptoms in four languages, and why it matched -----------------------

SEND_MAIL = incident(words=("exchange", "outlook", "send", "mail"))


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("E-Mail", "Wir können seit heute früh keine E-Mails mehr versenden."),
        ("Courriels", "Impossible d'envoyer des courriels depuis ce matin."),
        ("mail", "Ik kan geen mail meer versturen"),
        ("Outlook", "Outlook verschickt nichts"),
    ],
)
def test_a_service_implied_by_the_mail_matches_with_a_title_word_and_a_failure(
    subject: str, text: str
) -> None:
    assert matching([SEND_MAIL], subject, text) is SEND_MAIL


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Factuur", "Kunnen jullie de factuur van november mailen?"),  # no failure
        ("Drucker", "Der Drucker im zweiten Stock druckt nicht."),  # no word of the incident
        ("Teams", "Teams werkt niet"),  # another service named
    ],
)
def test_a_mail_that_only_mentions_mail_does_not_match(subject: str, text: str) -> None:
    assert matching([SEND_MAIL], subject, text) is None


def test_why_it_matched_is_told() -> None:
    reasons = why_matched(SEND_MAIL, "E-Mail", "Wir können keine E-Mails versenden.")
    assert reasons == [
        "implies Exchange Online: mail, send",
        "words of the incident: mail, send",
        "says something does not work: keine",
    ]
    named = why_matched(SEND_MAIL, "Exchange down", "Exchange Online is down for us")
    assert named[0] == "names Exchange Online"
