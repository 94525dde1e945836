"""Triage end to end: the daemon trains its model from the shipped corpus, escalates a mail by its
intent, and leaves one it is not sure of in the helpdesk with the suggestion for the agents."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Gateway, Sink, mail

pytestmark = pytest.mark.e2e

RULES = """
[[rules]]
name = "Subscription changes stay with us"
when = {{ intent = "subscription" }}
then = {{ action = "handle", queue = "sales" }}

[[rules]]
name = "Service unavailable"
when = {{ intent = "unavailable", confidence = {confidence} }}
then = {{ action = "escalate", category = "Service unavailable", priority = "high" }}
"""
MICROSOFT = "escalations@microsoft.example"
OUTAGE = mail(
    subject="Teams niet bereikbaar",
    body="Sinds vanochtend kan niemand bij ons in Teams, ook de webversie geeft een fout. "
    "Internet doet het gewoon.\n\nGroet, Anna",
)


def _gateway(
    tmp_path: Path, sink: Sink, confidence: float, seeded: bool = True
) -> Iterator[Gateway]:
    daemon = Gateway(tmp_path, sink, RULES.format(confidence=confidence))
    daemon.seed_triage_model = seeded
    daemon.start()
    yield daemon
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.log_text()


@pytest.fixture
def sure(tmp_path: Path, sink: Sink) -> Iterator[Gateway]:
    yield from _gateway(tmp_path, sink, 0.5)


@pytest.fixture
def fresh(tmp_path: Path, sink: Sink) -> Iterator[Gateway]:
    """As `sure`, in a home without a triage model, as a new installation starts."""
    yield from _gateway(tmp_path, sink, 0.5, seeded=False)


@pytest.fixture
def unsure(tmp_path: Path, sink: Sink) -> Iterator[Gateway]:
    yield from _gateway(tmp_path, sink, 1.0)  # triage is never that sure


# The first mail in a fresh home (`fresh`) waits for the worker to train the triage model (no
# cache in var/ yet): scikit-learn's import and fit take a few seconds, and several times that
# on a machine busy with the other e2e modules, longer than the other waits allow.
FIRST_MAIL_WAIT = 60.0


def test_a_mail_is_escalated_by_its_intent(fresh: Gateway, sink: Sink) -> None:
    fresh.send(OUTAGE)

    (ticket,) = fresh.wait_for_tickets(1, timeout=FIRST_MAIL_WAIT)
    assert ticket["route"] == {
        "action": "escalate",
        "target": "microsoft",
        "rule": "Service unavailable",
    }
    (escalation,) = sink.wait_for_mail(MICROSOFT)
    assert escalation.message["Subject"].startswith("[CONTOSO#1] Service unavailable: ")
    routed = [e for e in fresh.ticket(1)["events"] if e["what"] == "routed"]
    assert routed and routed[0]["intent"] == "unavailable" and routed[0]["language"] == "nl"
    assert list((fresh.home / "var").glob("triage-*.npz")), "the trained model is kept"


def test_a_mail_triage_is_unsure_of_stays_in_the_helpdesk_with_the_suggestion(
    unsure: Gateway, sink: Sink
) -> None:
    unsure.send(OUTAGE)

    (ticket,) = unsure.wait_for_tickets(1, timeout=FIRST_MAIL_WAIT)
    assert ticket["route"] == {"action": "handle", "target": "helpdesk", "rule": None}
    (notification,) = sink.wait_for_mail("jan@contoso.example")
    content = notification.message.get_content()
    assert re.search(r"suggested: escalate, unavailable, \d\.\d\d — reply #escalate", content)
    assert sink.to(MICROSOFT) == []


def test_a_subscription_change_goes_to_sales(sure: Gateway, sink: Sink) -> None:
    sure.send(mail(subject="Abonnement opzeggen", body="Wij willen ons abonnement opzeggen."))

    (ticket,) = sure.wait_for_tickets(1, timeout=FIRST_MAIL_WAIT)
    assert ticket["queue"] == "sales"
    assert ticket["route"]["rule"] == "Subscription changes stay with us"


FIRST = mail(
    subject="Frobnix Gold voor ons team",
    body="Kunnen jullie ons Frobnix-pakket omzetten naar Frobnix Gold? Dan hebben we de "
    "planningsmodule ook.\n\nGroet, Anna",
)
SIMILAR = mail(
    subject="Frobnix Gold",
    body="Graag ook voor de vestiging in Delft het Frobnix-pakket omzetten naar Frobnix Gold."
    "\n\nGroet, Anna",
)


def test_an_agents_correction_becomes_a_label_that_changes_a_similar_mail_after_training(
    sure: Gateway, sink: Sink
) -> None:
    from tests.e2e.test_agents import notification, reply, send_reply

    sure.send(FIRST)
    (ticket,) = sure.wait_for_tickets(1, timeout=FIRST_MAIL_WAIT)
    assert ticket["queue"] == "helpdesk"  # triage reads no subscription change in it yet
    note = notification(sink, "jan@contoso.example")
    send_reply(sure, reply(note, "jan@contoso.example", "#intent subscription"))
    sure.wait_for_ticket(1, lambda t: "labelled" in [e["what"] for e in t["events"]], "a label")
    (label,) = sure.json("triage", "labels")
    assert (label["ticket"], label["intent"], label["agent"]) == (
        1,
        "subscription",
        "jan@contoso.example",
    )

    dry = sure.json("triage", "train", "--dry-run")
    assert dry["labels"] == 1 and dry["taken"] is True
    assert not list((sure.home / "var").glob("triage-*-partner.npz")), "a dry run writes nothing"
    trained = sure.json("triage", "train")
    assert trained["taken"] is True
    assert trained["corpus"]["after"] >= trained["corpus"]["before"]

    sure.send(SIMILAR)
    tickets = sure.wait_for_tickets(2, timeout=FIRST_MAIL_WAIT)
    assert [t["queue"] for t in sorted(tickets, key=lambda t: t["number"])] == ["helpdesk", "sales"]


def test_a_label_from_a_refused_reply_is_not_kept(sure: Gateway, sink: Sink) -> None:
    from tests.e2e.test_agents import notification, reply, send_reply

    sure.send(FIRST)
    sure.wait_for_tickets(1, timeout=FIRST_MAIL_WAIT)
    note = notification(sink, "jan@contoso.example")
    send_reply(sure, reply(note, "jan@contoso.example", "#intent outage"))  # no such intent
    sure.wait_for_ticket(
        1, lambda t: "agent_reply_refused" in [e["what"] for e in t["events"]], "the refusal"
    )
    assert sure.json("triage", "labels") == []


def test_moving_a_ticket_to_sales_tells_its_agents_and_becomes_a_label(
    sure: Gateway, sink: Sink
) -> None:
    """Re-queueing to sales is an agent's correction of the route (issue 17, point 7)."""
    from tests.e2e.test_agents import notification, reply, send_reply

    sure.send(FIRST)
    sure.wait_for_tickets(1, timeout=FIRST_MAIL_WAIT)
    priya = "priya@contoso.example"  # helpdesk only; Jan also works in sales
    send_reply(sure, reply(notification(sink, priya), priya, "#queue sales"))

    ticket = sure.wait_for_ticket(1, lambda t: t["queue"] == "sales", "the ticket in sales")
    assert "queued" in [e["what"] for e in ticket["events"]]
    (label,) = sure.json("triage", "labels")
    assert (label["intent"], label["agent"]) == ("subscription", priya)
    again = sink.wait_for_mail("jan@contoso.example", count=2)[1].message  # sales hears of it
    assert again["Subject"].startswith("[CONTOSO#1]")


def test_a_queue_nobody_works_in_is_refused(sure: Gateway, sink: Sink) -> None:
    from tests.e2e.test_agents import notification, reply, send_reply

    sure.send(FIRST)
    sure.wait_for_tickets(1, timeout=FIRST_MAIL_WAIT)
    send_reply(sure, reply(notification(sink, "jan@contoso.example"), "jan@contoso.example",
                           "#queue slaes"))  # fmt: skip
    notice = sink.wait_for_mail("jan@contoso.example", count=2)[1].message
    assert "#queue: no agent works in queue 'slaes'" in notice.get_content()
    assert sure.ticket(1)["queue"] == "helpdesk"
