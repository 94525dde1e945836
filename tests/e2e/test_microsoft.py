"""Escalations as Partner Center service requests, end to end: the daemon as a process against
the HTTPS stand-in of Entra ID, Partner Center and Graph (tests/e2e/microsoft_standin.py).

One daemon for the module, its tests in order: the admin's device code login, an escalation
that becomes one service request, a create that times out once (still one request), Microsoft's
note and status change reaching the agents and not the customer, #upstream, service health of
one customer's tenant, a refused sign-in told to the admins, and Partner Center down for longer
than give_up_after (the e-mail escalation instead, the admins told)."""

from __future__ import annotations

import email.utils
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from tests.e2e.conftest import PARTNER, REPO, Gateway, Received, Sink, mail, wait_for
from tests.e2e.microsoft_standin import CLIENT_ID, CLIENT_SECRET, MicrosoftStandIn

ANNA, BOB = "anna@fabrikam.example", "bob@tailwind.example"
CARLA = "carla@fabrikam.example"  # acknowledgements are rate-limited per sender
JAN, SAM, PRIYA = "jan@contoso.example", "sam@contoso.example", "priya@contoso.example"
FABRIKAM_TENANT = "6a1f0c55-1111-4222-8333-444455556666"
TAILWIND_TENANT = "7b2e1d66-2222-4333-8444-555566667777"
ESCALATIONS = "escalations@microsoft.example"


def microsoft_config(standin: MicrosoftStandIn, give_up_after: str) -> str:
    return f"""\
[microsoft]
escalation = "partner_center"
escalation_address = "{ESCALATIONS}"
tenant_id = "contoso.onmicrosoft.com"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
token_file = "var/microsoft-token.json"
authority = "{standin.url}"
partner_center_url = "{standin.partner_center_url}"
graph_url = "{standin.graph_url}"
ca_file = "{standin.ca_file}"
poll = "1s"
support_topics = {{ "Service unavailable" = "32569836", "*" = "32444667" }}
give_up_after = "{give_up_after}"
retry_initial = "1s"
retry_max = "1s"
timeout = "2s"
"""


RULES = """
[escalation]
cluster_window = "1s"  # each test's escalation is its own, not one outage of many tickets

[[rules]]
name = "Outages go to Microsoft"
when = { words = ["outage"] }
then = { action = "escalate", category = "Service unavailable", priority = "urgent", \
queue = "escalations" }
"""


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MicrosoftStandIn]:
    server = MicrosoftStandIn(tmp_path_factory.mktemp("standin"))
    server.add_tenant(FABRIKAM_TENANT, "fabrikam.onmicrosoft.com")
    server.add_tenant(TAILWIND_TENANT, "tailwind.onmicrosoft.com")
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def relay() -> Iterator[Sink]:
    sink = Sink()
    sink.start()
    yield sink
    sink.stop()
    for received in sink.received:  # partner-only sending, as the conftest's sink checks
        assert received.mail_from == PARTNER


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, standin: MicrosoftStandIn, relay: Sink
) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("gateway")
    daemon = Gateway(home, relay, RULES)
    text = daemon.config.read_text()
    old = f'[microsoft]\nescalation_address = "{ESCALATIONS}"\n'
    assert old in text
    text = text.replace(old, microsoft_config(standin, give_up_after="8s"))
    text = text.replace(  # fabrikam's own tenant is polled for service health
        'tenant = "fabrikam.onmicrosoft.com"\n',
        'tenant = "fabrikam.onmicrosoft.com"\ngraph_tenant = true\n',
    )
    daemon.config.write_text(text)
    login(daemon, standin)
    daemon.start()
    yield daemon
    assert daemon.stop() == 0, daemon.log_text()
    log = daemon.log_text()
    assert "Traceback" not in log, log
    assert CLIENT_SECRET not in log
    assert "standin-" not in log  # no token in the log


def login(gateway: Gateway, standin: MicrosoftStandIn) -> None:
    """`gatewayd microsoft login`: the admin opens the page it names and types the code."""
    command = [sys.executable, "gatewayd.py", "microsoft", "login", "--config", str(gateway.config)]
    with subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        if "enter the code" in first:
            standin.approve_device_code("admin@contoso.onmicrosoft.com")
        rest = process.stdout.read()
        code = process.wait(timeout=30)
    assert "enter the code" in first and code == 0, first + rest
    assert "admin@contoso.onmicrosoft.com" in rest
    token_file = gateway.home / "var" / "microsoft-token.json"
    assert token_file.stat().st_mode & 0o077 == 0


def escalate(gateway: Gateway, subject: str, sender: str = ANNA) -> dict[str, object]:
    before = len(gateway.tickets())
    gateway.send(mail(sender=sender, subject=subject, body=f"{subject}\n\nNobody can work."))
    (ticket,) = [t for t in gateway.wait_for_tickets(before + 1) if t["subject"] == subject]
    return ticket


def service_request_of(gateway: Gateway, number: int, timeout: float = 15) -> dict[str, object]:
    try:
        return gateway.wait_for_ticket(
            number,
            lambda t: bool((t.get("service_request") or {}).get("id")),
            "a service request",
            timeout,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{gateway.log_text()[-3000:]}") from None


def test_check_and_topics(gateway: Gateway, standin: MicrosoftStandIn) -> None:
    check = gateway.cli("microsoft", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Partner Center: signed in as admin@contoso.onmicrosoft.com" in check.stdout
    assert CLIENT_SECRET not in check.stdout + check.stderr
    topics = gateway.cli("microsoft", "topics")
    assert topics.returncode == 0, topics.stderr
    assert "32569836  Service unavailable" in topics.stdout


def test_an_escalation_becomes_one_service_request(
    gateway: Gateway, standin: MicrosoftStandIn, relay: Sink
) -> None:
    ticket = escalate(gateway, "Teams outage since 9:00")
    shown = service_request_of(gateway, int(ticket["number"]))
    request_id = shown["service_request"]["id"]  # type: ignore[index]
    assert shown["status"] == "waiting_upstream"
    assert request_id in shown["cases"]  # shown like a case number
    (created,) = standin.recorded("POST", r"/v1/servicerequests/")
    tag = f"[CONTOSO#{ticket['number']}]"
    assert created.json["Title"].startswith(tag)
    assert created.json["Severity"] == "critical"  # urgent
    assert created.json["SupportTopicId"] == "32569836"
    assert "Tenant: fabrikam.onmicrosoft.com" in created.json["Description"]
    assert "Nobody can work." in created.json["Description"]
    assert relay.to(ESCALATIONS) == []  # not by mail
    shown_text = gateway.cli("tickets", "show", str(ticket["number"])).stdout
    assert f"service request: {request_id} (open)" in shown_text


def test_a_create_that_times_out_once_is_still_one_request(
    gateway: Gateway, standin: MicrosoftStandIn
) -> None:
    standin.fault("POST", r"/v1/servicerequests/", "timeout", delay=3.0)
    before = len(standin.service_requests)
    ticket = escalate(gateway, "Exchange outage for the whole company")
    service_request_of(gateway, int(ticket["number"]), timeout=20)
    assert len(standin.service_requests) == before + 1  # found by its tag, not made twice
    assert len(standin.recorded("GET", r"/v1/servicerequests$")) >= 1


def test_microsofts_note_and_status_reach_the_agents_and_not_the_customer(
    gateway: Gateway, standin: MicrosoftStandIn, relay: Sink
) -> None:
    ticket = escalate(gateway, "SharePoint outage in our tenant")
    number = int(ticket["number"])
    request_id = str(service_request_of(gateway, number)["service_request"]["id"])  # type: ignore[index]
    to_anna = len(relay.to(ANNA))
    standin.add_note(request_id, "Please send the correlation id of a failed sign-in.")
    standin.set_status(request_id, "attention_needed")
    shown = gateway.wait_for_ticket(
        number, lambda t: t["status"] == "open", "the ticket back with the agents", 15
    )
    upstream = [m for m in shown["messages"] if m["kind"] == "upstream"]
    assert any("correlation id of a failed sign-in" in m["text"] for m in upstream)
    assert any("attention needed" in m["text"] for m in upstream)
    assert shown["service_request"]["status"] == "attention_needed"
    wait_for(lambda: told(relay, SAM, "correlation id"), 15, "the note to the agents")
    time.sleep(1.5)  # a poll more: nothing told twice, nothing to the customer
    assert len(relay.to(ANNA)) == to_anna
    assert len(told(relay, SAM, "correlation id")) == 1
    assert told(relay, JAN, "correlation id") == []  # not an agent of the ticket's queue


def told(relay: Sink, agent: str, text: str) -> list[Received]:
    return [r for r in relay.to(agent) if text in r.message.get_content()]


def agent_reply(note: Received, agent: str, text: str) -> EmailMessage:
    answer = EmailMessage(policy=SMTP)
    answer["From"] = agent
    answer["To"] = str(note.message["Reply-To"].addresses[0].addr_spec)
    answer["Subject"] = "RE: " + note.message["Subject"]
    answer["Date"] = email.utils.format_datetime(email.utils.localtime())
    answer["Message-ID"] = email.utils.make_msgid(domain="contoso.example")
    answer["In-Reply-To"] = note.message["Message-ID"]
    quoted = note.message.get_content().replace("\n", "\n> ")
    answer.set_content(f"{text}\n\nOn Tue, 1 Dec 2026 at 10:00, Contoso Cloud wrote:\n> {quoted}")
    return answer


def test_upstream_adds_a_note_that_never_reaches_the_customer(
    gateway: Gateway, standin: MicrosoftStandIn, relay: Sink
) -> None:
    ticket = escalate(gateway, "Intune outage: devices do not enroll")
    number = int(ticket["number"])
    request_id = str(service_request_of(gateway, number)["service_request"]["id"])  # type: ignore[index]
    tag = f"[CONTOSO#{number}]"
    (note,) = [r for r in relay.to(SAM) if tag in str(r.message["Subject"])][:1]
    to_anna = len(relay.to(ANNA))
    text = "#upstream The correlation id is 4c1e8b6c; it fails for all 40 devices."
    gateway.send(agent_reply(note, SAM, text), sender=SAM)
    wait_for(
        lambda: any("4c1e8b6c" in n["text"] for n in standin.service_requests[request_id]["notes"]),
        15,
        "the note in Partner Center",
    )
    (patch,) = [r for r in standin.recorded("PATCH", request_id)]
    assert patch.json == {
        "NewNote": {"Text": "The correlation id is 4c1e8b6c; it fails for all 40 devices."}
    }
    time.sleep(1.5)  # polled again: our own note is not news for the agents
    assert len(relay.to(ANNA)) == to_anna
    assert told(relay, ANNA, "4c1e8b6c") == []
    shown = gateway.ticket(number)
    assert not [m for m in shown["messages"] if m["kind"] == "upstream" and "4c1e8b6c" in m["text"]]


def test_service_health_of_a_customers_tenant_matches_only_that_customer(
    gateway: Gateway, standin: MicrosoftStandIn, relay: Sink
) -> None:
    standin.add_issue(
        "fabrikam.onmicrosoft.com",
        id="EX777001",
        service="Exchange Online",
        title="Mail to external recipients is delayed",
        status="serviceDegradation",
    )
    time.sleep(2.5)  # a poll
    subject = "Mail to external recipients is delayed"
    body = "Our mail to external recipients is delayed since this morning, it does not work."
    gateway.send(mail(sender=CARLA, subject=subject, body=body))
    gateway.send(mail(sender=BOB, subject=subject, body=body))

    def acknowledgement(address: str) -> list[Received]:
        return [r for r in relay.to(address) if subject in str(r.message["Subject"])]

    (to_carla,) = wait_for(lambda: acknowledgement(CARLA), 15, "carla's acknowledgement")
    (to_bob,) = wait_for(lambda: acknowledgement(BOB), 15, "bob's acknowledgement")
    assert "Mail to external recipients is delayed" in to_carla.message.get_content()
    assert "serviceDegradation" in to_carla.message.get_content()  # its status, as today
    assert "serviceDegradation" not in to_bob.message.get_content()
    for sender, expected in ((CARLA, "EX777001"), (BOB, None)):  # route --explain agrees
        path = gateway.home / f"{sender}.eml"
        path.write_bytes(mail(sender=sender, subject=subject, body=body).as_bytes())
        explained = gateway.json("route", "--explain", str(path))
        assert explained["known_issue"] == expected


def test_a_refused_sign_in_tells_the_admins(
    gateway: Gateway, standin: MicrosoftStandIn, relay: Sink
) -> None:
    standin.revoke_refresh_tokens(access_tokens=True)
    try:
        ticket = escalate(gateway, "Defender outage: alerts are missing")
        notice = wait_for(
            lambda: [r for r in relay.to(PRIYA) if "sign-in" in str(r.message["Subject"])],
            30,
            "a notice to the admin-agent",
        )[0]
        assert "gatewayd microsoft login" in notice.message.get_content()
        assert relay.to(JAN) == [] or all(
            "sign-in" not in str(r.message["Subject"]) for r in relay.to(JAN)
        )
        shown = gateway.ticket(int(ticket["number"]))
        assert shown["service_request"]["id"] is None  # waits in the queue, not lost
    finally:
        login(gateway, standin)  # the admin signs in again; the queued request goes out
    service_request_of(gateway, int(ticket["number"]), timeout=20)


def test_partner_center_down_longer_than_give_up_after_falls_back_to_mail(
    gateway: Gateway, standin: MicrosoftStandIn, relay: Sink
) -> None:
    standin.stop()
    try:
        ticket = escalate(gateway, "Power BI outage: reports are blank")
        tag = f"[CONTOSO#{ticket['number']}]"
        (fallback,) = wait_for(
            lambda: [r for r in relay.to(ESCALATIONS) if tag in str(r.message["Subject"])],
            30,
            "the e-mail escalation",
        )
        assert "Power BI outage" in fallback.message.get_content()
        told = wait_for(
            lambda: [
                r for r in relay.to(PRIYA) if "by e-mail instead" in str(r.message["Subject"])
            ],
            15,
            "the admin-agents told",
        )
        assert tag in told[0].message.get_content()
        shown = gateway.ticket(int(ticket["number"]))
        assert any(e["what"] == "service_request_failed" for e in shown["events"])
    finally:
        standin.start()


def test_the_ticket_json_lists_the_request(gateway: Gateway) -> None:
    rows = json.loads(gateway.cli("tickets", "list", "--json").stdout)
    assert rows
