"""Support plans end to end: one daemon for the module on a clock the tests set (GATEWAYD_CLOCK),
its ticket timers run every second (GATEWAYD_TIMERS_SECONDS). In order, as the month goes: SLA
fields after an answer and a pause, a reminder and a breach notice, #time from Outlook,
Thunderbird and mutt (and refused from a customer and from an agent not on the customer), the
80 % notice, the report of November in each format, and on the first working day of December
the statements and the digest, once each. Then the same once with two daemons on PostgreSQL."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.clock import set_clock
from gateway.config import load_config
from gateway.delivery.reply_address import agent_tag, signed_reply_address
from tests.e2e import postgres
from tests.e2e.conftest import PARTNER, Gateway, Sink, mail, wait_for
from tests.e2e.test_agents import notification, reply, send_reply

pytestmark = pytest.mark.e2e

AMS = ZoneInfo("Europe/Amsterdam")
JAN, PRIYA, SAM = "jan@contoso.example", "priya@contoso.example", "sam@contoso.example"
ANNA, CONTACT = "anna@fabrikam.example", "it@fabrikam.example"
PLANS = """
[[plans]]
id = "standard"
hours = "Mon-Fri 08:00-18:00"
timezone = "Europe/Amsterdam"
holidays = "NL"
first_response = { normal = "4h", high = "2h" }
resolution = { normal = "3d" }
rate = 100.0
currency = "EUR"
included_hours = 1
rounding = "6m"
minimum = "6m"
statements = true
balance_notices = true
"""


def local(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=AMS)


def plans_config(gateway: Gateway) -> None:
    """The module's plan, fabrikam's statement contact, and standard as the default plan."""
    text = gateway.config.read_text()
    text = text.replace("digest = false\n", 'digest = true\nplan = "standard"\n', 1)
    text = text.replace('language = "nl"\n', f'language = "nl"\ncontact = "{CONTACT}"\n', 1)
    gateway.config.write_text(text + PLANS)


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("clock") / "now"
    set_clock(str(path), local(11, 30, 9))
    with pytest.MonkeyPatch.context() as patch:  # the daemon and the CLI both read it
        patch.setenv("GATEWAYD_CLOCK", str(path))
        patch.setenv("GATEWAYD_TIMERS_SECONDS", "1")
        yield path


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    relay = Sink()
    relay.start()
    yield relay
    relay.stop()
    for received in relay.received:
        assert received.mail_from == PARTNER


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, sink: Sink, clock_file: Path
) -> Iterator[Gateway]:
    daemon = Gateway(tmp_path_factory.mktemp("plans"), sink)
    plans_config(daemon)
    daemon.start()
    yield daemon
    assert daemon.stop() == 0, daemon.log_text()
    assert "Traceback" not in daemon.log_text(), daemon.log_text()


def at(clock_file: Path, moment: datetime) -> None:
    set_clock(str(clock_file), moment)


def new_ticket(gateway: Gateway, sender: str = ANNA, subject: str = "Printer") -> int:
    before = len(gateway.tickets())
    gateway.send(mail(sender=sender, subject=subject))
    return int(gateway.wait_for_tickets(before + 1)[-1]["number"])


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    return body.get_content() if body is not None else ""


def purposes(sink: Sink, address: str, purpose: str) -> list[EmailMessage]:
    return [r.message for r in sink.to(address) if purpose in r.message["Subject"]]


def near(text: str, moment: datetime) -> bool:
    """`text` (ISO 8601) within a minute of `moment`: the clock runs on while a test works."""
    return abs((datetime.fromisoformat(text) - moment).total_seconds()) < 60


def test_sla_fields_after_an_answer_and_a_pause(
    gateway: Gateway, sink: Sink, clock_file: Path
) -> None:
    number = new_ticket(gateway)
    sla = gateway.ticket(number)["sla"]
    assert sla["plan"] == "standard"
    assert near(sla["first_response"]["due"], local(11, 30, 13))
    assert near(sla["resolution"]["due"], local(12, 3, 9))  # 30 h of service time
    send_reply(gateway, reply(notification(sink, JAN), JAN, "We are on it.", "thunderbird"))
    sla = gateway.wait_for_ticket(number, lambda t: t["sla"]["first_response"]["met"], "met")
    assert not sla["sla"]["first_response"]["breached"]
    send_reply(gateway, reply(notification(sink, JAN), JAN, "#pending", "gmail"))
    gateway.wait_for_ticket(number, lambda t: t["status"] == "waiting_customer", "pending")
    at(clock_file, local(11, 30, 11))
    sla = gateway.ticket(number)["sla"]
    assert sla["resolution"]["paused"]
    assert 7000 < sla["paused_seconds"] <= 7200  # paused from about 09:00 to 11:00
    assert near(sla["resolution"]["due"], local(12, 3, 11))  # moved by the pause


def test_a_reminder_at_a_quarter_left_and_a_breach_told_once(
    gateway: Gateway, sink: Sink, clock_file: Path
) -> None:
    number = new_ticket(gateway, subject="Teams is slow")  # 11:00: due 15:00
    tag = f"[CONTOSO#{number}]"
    at(clock_file, local(11, 30, 13, 59))
    time.sleep(2)
    assert not [m for m in purposes(sink, JAN, tag) if "quarter" in text_of(m)]
    at(clock_file, local(11, 30, 14, 0, 30))
    reminder = wait_for(
        lambda: [m for m in purposes(sink, JAN, tag) if "quarter" in text_of(m)],
        what="a reminder",
    )[0]
    assert "2026-11-30 15:00" in text_of(reminder)
    at(clock_file, local(11, 30, 15, 0, 30))
    breach = wait_for(lambda: missed(sink, PRIYA, tag), what="a breach notice")
    assert len(breach) == 1 and "first response" in text_of(breach[0])
    time.sleep(3)  # three more rounds of the timers
    assert len(missed(sink, PRIYA, tag)) == 1
    assert not missed(sink, JAN, tag)  # admin-agents only
    events = [e for e in gateway.ticket(number)["events"] if e["what"] == "sla_breached"]
    assert [e["clock"] for e in events] == ["first_response"]
    assert gateway.ticket(number)["sla"]["first_response"]["breached"]
    breached = [t["number"] for t in gateway.json("tickets", "list", "--breached")]
    assert breached == [number]
    # Both resolutions fall due on 3 December about 11:00 (the first one's was paused for as
    # long as the second one came later).
    listed = gateway.json("tickets", "list", "--due-within", "3d")
    assert [t["number"] for t in listed] == [number - 1, number]
    assert gateway.json("tickets", "list", "--due-within", "2d") == []


def missed(sink: Sink, address: str, tag: str) -> list[EmailMessage]:
    return [m for m in purposes(sink, address, tag) if "missed" in m["Subject"]]


def mutt(note: Any, agent: str, text: str) -> EmailMessage:
    """mutt: plain text, the quote below an attribution line, a signature after "-- "."""
    answer = reply(note, agent, text, "thunderbird")
    original = note.message.get_content()
    quoted = "\n".join("> " + line for line in original.split("\n"))
    answer.set_content(
        f"{text}\n\n-- \nJan de Vries\n\nOn Mon, Nov 30, 2026 at 11:00:00AM +0100, "
        f"Contoso Cloud wrote:\n{quoted}\n"
    )
    return answer


def test_time_from_outlook_thunderbird_and_mutt(
    gateway: Gateway, sink: Sink, clock_file: Path
) -> None:
    number = gateway.tickets()[0]["number"]
    note = notification(sink, JAN)
    for message in (
        reply(note, JAN, "#time 30m printer drivers", "outlook"),
        reply(note, JAN, "#time 1h15 nonbillable\n\nThe driver is installed now.", "thunderbird"),
        mutt(note, JAN, "#time -15m booked twice"),
    ):
        send_reply(gateway, message)
    ticket = gateway.wait_for_ticket(number, lambda t: len(t["time"]) == 3, "three entries")
    entries = [(e["agent"], e["minutes"], e["billable"], e["note"]) for e in ticket["time"]]
    assert entries == [
        (JAN, 30, True, "printer drivers"),
        (JAN, 75, False, ""),
        (JAN, -15, True, "booked twice"),
    ]
    answers = [r for r in sink.to(ANNA) if "The driver is installed now." in r.data.decode()]
    assert len(answers) == 1 and b"#time" not in answers[0].data


def test_time_from_a_customer_or_an_agent_not_on_the_customer_is_refused(
    gateway: Gateway, sink: Sink
) -> None:
    number = gateway.tickets()[0]["number"]
    from_customer = mail(sender=ANNA, subject=f"Re: [CONTOSO#{number}] Printer", body="#time 5h")
    gateway.send(from_customer)
    gateway.wait_for_ticket(
        number, lambda t: any("#time 5h" in m["text"] for m in t["messages"]), "the customer's"
    )
    other = new_ticket(gateway, sender="carl@adatum.example", subject="Adatum printer")
    address = signed_reply_address(load_config(gateway.config), other, agent_tag(PRIYA))
    answer = reply(notification(sink, JAN), JAN, "#time 2h")  # priya: fabrikam only
    answer.replace_header("From", PRIYA)
    answer.replace_header("To", address)
    send_reply(gateway, answer, to=address)
    wait_for(
        lambda: any(
            "may not act on customer adatum" in text_of(m)
            for m in [r.message for r in sink.to(PRIYA)]
        ),
        what="the refusal",
    )
    assert gateway.ticket(number)["time"] and len(gateway.ticket(number)["time"]) == 3
    assert gateway.ticket(other)["time"] == []


def test_the_80_percent_notice(gateway: Gateway, sink: Sink) -> None:
    # 30 - 15 = 15 minutes billable, rounded to 18; 33 more: 48 of the 60 included, 80 %.
    send_reply(gateway, reply(notification(sink, JAN), JAN, "#time 33m"))
    notices = wait_for(lambda: purposes(sink, PRIYA, "80 %"), what="the 80 % notice")
    assert "Fabrikam BV" in text_of(notices[0])
    to_customer = wait_for(lambda: sink.to(CONTACT), what="the customer's notice")
    assert "80 %" in text_of(to_customer[0].message)  # in Dutch: fabrikam reads Dutch
    assert "inbegrepen" in text_of(to_customer[0].message)
    assert not purposes(sink, PRIYA, "100 %")


def test_the_report_of_november_in_each_format(gateway: Gateway, sink: Sink) -> None:
    # Ticket 2 (breached): 45 minutes, 48 rounded; with ticket 1's 48, 1.6 h: 0.6 charged.
    second = gateway.tickets()[1]["number"]
    notes = [r for r in sink.to(JAN) if f"[CONTOSO#{second}]" in r.message["Subject"]]
    send_reply(gateway, reply(notes[0], JAN, "#time 45m"))
    gateway.wait_for_ticket(second, lambda t: len(t["time"]) == 1, "the entry")
    data = gateway.json("report", "--month", "2026-11")
    (fabrikam,) = [c for c in data["customers"] if c["customer"] == "fabrikam"]
    assert (fabrikam["tickets_opened"], fabrikam["tickets_closed"]) == (2, 0)
    assert (fabrikam["sla_met"], fabrikam["sla_breached"]) == (1, 1)
    assert (fabrikam["hours_billable"], fabrikam["hours_nonbillable"]) == (1.6, 1.25)
    assert (fabrikam["amount"], fabrikam["currency"]) == (60.0, "EUR")
    lines = list(csv.DictReader(io.StringIO(gateway_out(gateway, "csv"))))
    assert [int(line["minutes"]) for line in lines if line["customer"] == "fabrikam"] == [
        30,
        75,
        -15,
        33,
        45,
    ]
    page = gateway_out(gateway, "html")
    assert page.count("<svg") == 3 * len(data["customers"]) and "Tickets per week" in page
    text = gateway_out(gateway, "text")
    assert "Amount:                 EUR 60.00" in text


def gateway_out(gateway: Gateway, form: str) -> str:
    result = gateway.cli("report", "--month", "2026-11", "--format", form)
    assert result.returncode == 0, result.stderr
    return result.stdout


DECEMBER_1 = "digest of 2026-12-01"


def test_statements_and_the_digest_on_the_first_working_day_once(
    gateway: Gateway, sink: Sink, clock_file: Path
) -> None:
    # Only this day's digest: Monday's, due since the earlier tests' clock passed its opening,
    # may still be on its way through the outbox of a busy machine.
    at(clock_file, local(12, 1, 7, 59, 50))  # Tuesday 1 December, before opening
    time.sleep(2)
    assert not purposes(sink, CONTACT, "2026-11") and not purposes(sink, JAN, DECEMBER_1)
    at(clock_file, local(12, 1, 8, 0, 5))
    statement = wait_for(lambda: purposes(sink, CONTACT, "2026-11"), what="the statement")[0]
    assert "Supportoverzicht" in statement["Subject"]
    assert "Bedrag:" in statement.get_body(("plain",)).get_content()  # Dutch, as fabrikam reads
    (page,) = [p for p in statement.iter_attachments() if p.get_content_type() == "text/html"]
    assert page.get_content().count("<svg") == 3
    for mail_to_customer in sink.to(CONTACT):  # partner-only: no agent, no agent's note
        shown = text_of(mail_to_customer.message) + "".join(
            part.get_content() for part in mail_to_customer.message.iter_attachments()
        )
        assert not any(agent in shown for agent in (JAN, PRIYA, SAM))
        assert "printer drivers" not in shown and "booked twice" not in shown
    summary = wait_for(lambda: purposes(sink, PRIYA, "statements 2026-11"), what="the summary")
    assert "fabrikam" in summary[0].get_body(("plain",)).get_content()
    digest = wait_for(lambda: purposes(sink, JAN, DECEMBER_1), what="Jan's digest")[0]
    assert "Teams is slow" in text_of(digest)  # breached
    time.sleep(3)
    assert len(purposes(sink, CONTACT, "2026-11")) == 1
    assert len(purposes(sink, JAN, DECEMBER_1)) == 1


@pytest.mark.skipif(not postgres.available(), reason="postgresql is installed by make test")
def test_two_daemons_on_postgresql_send_the_statements_and_the_digest_once(
    tmp_path: Path, database: str
) -> None:
    relay = Sink()
    relay.start()
    path = tmp_path / "now"
    set_clock(str(path), local(12, 31, 16))
    daemons = []
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GATEWAYD_CLOCK", str(path))
            patch.setenv("GATEWAYD_TIMERS_SECONDS", "1")
            for name in ("one", "two"):
                (tmp_path / name).mkdir()
                daemon = Gateway(tmp_path / name, relay, storage_url=database)
                plans_config(daemon)
                daemons.append(daemon)
                daemon.start()
            new_ticket(daemons[0])
            send_reply(daemons[0], reply(notification(relay, JAN), JAN, "#time 20m"))
            daemons[0].wait_for_ticket(1, lambda t: len(t["time"]) == 1, "the entry")
            set_clock(str(path), local(1, 4, 8, 0, 5).replace(year=2027))  # Monday 4 January
            wait_for(lambda: purposes(relay, CONTACT, "2026-12"), what="the statement", timeout=20)
            wait_for(lambda: [r for r in relay.to(JAN) if "digest" in r.message["Subject"]])
            time.sleep(4)
            assert len(purposes(relay, CONTACT, "2026-12")) == 1
            assert len([r for r in relay.to(JAN) if "digest" in r.message["Subject"]]) == 1
    finally:
        for daemon in daemons:
            daemon.stop()
        relay.stop()
