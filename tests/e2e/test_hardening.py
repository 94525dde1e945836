"""Issue 15's attacks, each against the daemon as a process: forged Authentication-Results,
foreign envelope senders, expired reply addresses, References into another customer's ticket,
connection floods, encoded display names, and a storage path the daemon cannot use."""

from __future__ import annotations

import email.utils
import smtplib
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.delivery.reply_address import agent_tag, signed_reply_address
from gateway.store.models import utcnow
from tests.e2e.conftest import PARTNER, REPO, Gateway, Sink, mail, wait_for
from tests.e2e.test_agents import (
    ANNA,
    JAN,
    customer_safe,
    notification,
    open_ticket,
    reply,
    signed_address,
    ticket_after,
)

MALLORY = "mallory@outside.example"
MX = "mx.gw.test"


def send_as(gateway: Gateway, data: bytes, envelope: str, to: str) -> None:
    gateway.send(data, sender=envelope, recipients=[to])


def refusal_notice(sink: Sink, count: int = 2) -> str:
    """The notice Jan gets about a refused reply (his first mail is the notification)."""
    return str(sink.wait_for_mail(JAN, count=count)[count - 1].message.get_content())


# --- 1. Authentication-Results: only the trusted MTA's own, above the first Received: ---


@pytest.fixture
def checked_gateway(tmp_path: Path, sink: Sink) -> Iterator[Gateway]:
    daemon = Gateway(tmp_path, sink, f'\n[security]\ntrusted_authserv_id = "{MX}"\n')
    daemon.start()
    yield daemon
    assert daemon.stop() == 0


def through_mx(message: bytes, results_on_top: str | None) -> bytes:
    """The message as Postfix with OpenDKIM hands it on: its own results (if any) on top of
    the Received: it adds; whatever the sender wrote stays below."""
    received = f"Received: from outside.example (outside.example [192.0.2.66])\r\n\tby {MX}"
    received += f" (Postfix) with ESMTP id 4Q; {email.utils.format_datetime(utcnow())}\r\n"
    top = f"Authentication-Results: {results_on_top}\r\n" if results_on_top else ""
    return top.encode() + received.encode() + message


def test_a_forged_authentication_results_below_received_is_refused(
    checked_gateway: Gateway, sink: Sink
) -> None:
    open_ticket(checked_gateway, sink)
    note = notification(sink, JAN)
    forged = reply(note, JAN, "answer")
    forged["Authentication-Results"] = (
        f"{MX}; dkim=pass header.d=contoso.example; dmarc=pass header.from=contoso.example"
    )
    send_as(checked_gateway, through_mx(forged.as_bytes(), None), MALLORY, signed_address(note))

    ticket_after(checked_gateway, 1, 2)
    assert f"{MX} shows no DKIM or DMARC pass for contoso.example" in refusal_notice(sink)
    assert len(sink.to(ANNA)) == 1  # the acknowledgement only
    customer_safe(sink)


def test_a_genuine_authentication_results_above_received_is_accepted(
    checked_gateway: Gateway, sink: Sink
) -> None:
    open_ticket(checked_gateway, sink)
    note = notification(sink, JAN)
    answer = reply(note, JAN, "Genuine answer.")
    answer["Authentication-Results"] = f"{MX}; dkim=fail header.d=contoso.example"  # below
    genuine = f"{MX}; dkim=pass header.d=contoso.example header.s=s1; dmarc=pass"
    # A bounce-address rewriting relay: the DKIM pass stands for the envelope.
    data = through_mx(answer.as_bytes(), genuine)
    send_as(checked_gateway, data, "bounces+x@relay.example", signed_address(note))

    relayed = sink.wait_for_mail(ANNA, count=2)[1].message
    assert relayed.get_content().strip() == "Genuine answer."
    customer_safe(sink)


# --- 2. the envelope sender, and the lifetime of signed addresses ---


def test_a_reply_with_a_foreign_envelope_sender_is_refused(gateway: Gateway, sink: Sink) -> None:
    open_ticket(gateway, sink)
    note = notification(sink, JAN)
    send_as(gateway, reply(note, JAN, "answer").as_bytes(), MALLORY, signed_address(note))

    ticket = ticket_after(gateway, 1, 2)
    assert f"its envelope sender is <{MALLORY}>" in refusal_notice(sink)
    kinds = [m["kind"] for m in ticket["messages"] if m["direction"] == "in"]
    assert kinds == ["customer", "note"]
    assert len(sink.to(ANNA)) == 1
    customer_safe(sink)


@pytest.mark.parametrize(
    "envelope",
    [
        "prvs=0123456789=jan@contoso.example",  # BATV, as Exchange Online's filters sign it
        "SRS0=HHH=TT=contoso.example=jan@forwarder.example",  # forwarded with SRS
    ],
)
def test_a_reply_with_a_rewritten_envelope_of_the_agent_is_accepted(
    gateway: Gateway, sink: Sink, envelope: str
) -> None:
    open_ticket(gateway, sink)
    note = notification(sink, JAN)
    send_as(
        gateway, reply(note, JAN, "Restart Outlook.").as_bytes(), envelope, signed_address(note)
    )

    relayed = sink.wait_for_mail(ANNA, count=2)[1].message
    assert relayed.get_content().strip() == "Restart Outlook."
    customer_safe(sink)


def expired_address(gateway: Gateway, agent: str, number: int) -> str:
    config = load_config(gateway.config)
    made = utcnow() - config.reply_address_lifetime - timedelta(days=5)
    return signed_reply_address(config, number, agent_tag(agent), now=made)


def test_an_expired_reply_address_is_refused_from_another_envelope(
    gateway: Gateway, sink: Sink
) -> None:
    open_ticket(gateway, sink)
    note = notification(sink, JAN)
    old = expired_address(gateway, JAN, 1)
    answer = reply(note, JAN, "answer")
    answer.replace_header("To", old)
    # A colleague's envelope at the agent's own domain would do for a fresh address.
    send_as(gateway, answer.as_bytes(), "shared-mailbox@contoso.example", old)

    ticket_after(gateway, 1, 2)
    assert "its reply address has expired" in refusal_notice(sink)
    assert len(sink.to(ANNA)) == 1


def test_an_expired_reply_address_is_answerable_from_the_agents_own_envelope(
    gateway: Gateway, sink: Sink
) -> None:
    open_ticket(gateway, sink)
    note = notification(sink, JAN)
    old = expired_address(gateway, JAN, 1)
    answer = reply(note, JAN, "Still answerable.")
    answer.replace_header("To", old)
    send_as(gateway, answer.as_bytes(), JAN, old)

    relayed = sink.wait_for_mail(ANNA, count=2)[1].message
    assert relayed.get_content().strip() == "Still answerable."
    customer_safe(sink)


def test_notifications_carry_a_signed_address_of_the_day(gateway: Gateway, sink: Sink) -> None:
    open_ticket(gateway, sink)
    address = signed_address(notification(sink, JAN))
    day = (utcnow().date() - utcnow().date().replace(year=1970, month=1, day=1)).days
    assert address.startswith(f"support+1.{agent_tag(JAN)}.{day}.")


# --- 3. References do not cross customers ---


def test_references_to_another_customers_ticket_open_a_new_ticket(
    gateway: Gateway, sink: Sink
) -> None:
    adatum = mail(sender="carl@adatum.example", subject="Licences for Adatum")
    gateway.send(adatum)
    gateway.wait_for_tickets(1)
    intruder = mail(sender=ANNA, subject="Re: Licences for Adatum", body="Me too.")
    intruder["In-Reply-To"] = adatum["Message-ID"]
    intruder["References"] = adatum["Message-ID"]
    gateway.send(intruder)

    tickets = {t["number"]: t for t in gateway.wait_for_tickets(2)}
    assert (tickets[1]["customer"], tickets[2]["customer"]) == ("adatum", "fabrikam")
    assert [m["direction"] for m in gateway.ticket(1)["messages"]].count("in") == 1
    events = gateway.ticket(2)["events"]
    assert {"what": "references_other_ticket", "number": 1}.items() <= next(
        e for e in events if e["what"] == "references_other_ticket"
    ).items()
    sink.wait_for_mail(ANNA)  # the Fabrikam sender hears back, on a ticket of its own


# --- 4. session caps ---


@pytest.fixture
def capped_gateway(tmp_path: Path, sink: Sink) -> Iterator[Gateway]:
    daemon = Gateway(tmp_path, sink)
    text = daemon.config.read_text()
    limits = 'max_size = "1MB"\nmax_sessions = 5\nmax_sessions_per_ip = 3'
    daemon.config.write_text(text.replace('max_size = "1MB"', limits, 1))
    daemon.start()
    yield daemon
    assert daemon.stop() == 0


def greeting(port: int, source: str, held: list[socket.socket]) -> bytes:
    """Connect from `source` (any address of 127.0.0.0/8 is this host) and read the first line;
    the connection stays open in `held`."""
    connection = socket.create_connection(
        ("127.0.0.1", port), timeout=10, source_address=(source, 0)
    )
    held.append(connection)
    return connection.makefile("rb").readline()


def test_a_capped_client_gets_421_while_another_address_is_served(
    capped_gateway: Gateway,
) -> None:
    port, held = capped_gateway.port, []
    # 127.0.0.4 is capped: not 127.0.0.1, whose start-up probe may not have ended yet.
    try:
        assert all(greeting(port, "127.0.0.4", held).startswith(b"220 ") for _ in range(3))
        assert greeting(port, "127.0.0.4", held).startswith(b"421 4.7.0 ")
        assert greeting(port, "127.0.0.4", held).startswith(b"421 4.7.0 ")

        with smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.2", 0), timeout=30) as smtp:
            smtp.sendmail(ANNA, [PARTNER], mail(subject="Served").as_bytes())
        assert [t["subject"] for t in capped_gateway.wait_for_tickets(1)] == ["Served"]

        # The SMTP client's session ends a moment after QUIT: until then it counts.
        wait_for(lambda: greeting(port, "127.0.0.2", held).startswith(b"220 "), 10, "room")
        wait_for(lambda: greeting(port, "127.0.0.3", held).startswith(b"220 "), 10, "room")
        # Five sessions now, all held here.
        assert greeting(port, "127.0.0.3", held).startswith(b"421 4.7.0 Too many connections,")

        held.pop(0).close()  # a session of 127.0.0.4 ends: it may have one again
        wait_for(lambda: greeting(port, "127.0.0.4", held).startswith(b"220 "), 10, "room")
    finally:
        for connection in held:
            connection.close()
    refusals = [line for line in capped_gateway.log_text().splitlines() if "too_many" in line]
    assert len([line for line in refusals if "peer=127.0.0.4 " in line]) == 1  # once a minute
    assert "daemon.open_files_limit" in capped_gateway.log_text()


# --- 5. encoded display names ---


def raw_mail(from_header: str, subject: str) -> bytes:
    return (
        f"From: {from_header}\r\nTo: {PARTNER}\r\nSubject: {subject}\r\n"
        f"Message-ID: {email.utils.make_msgid(domain='fabrikam.example')}\r\n"
        f"Date: {email.utils.format_datetime(utcnow())}\r\n\r\nThe printer is broken.\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("from_header", "requester"),
    [
        ("=?utf-8?q?Bob=0D=0ABcc:_evil@outside.example?= <bob@fabrikam.example>", "bob"),
        ("=?utf-8?q?Fabrikam_IT:_Anna_M=C3=BCller?= <anna@fabrikam.example>", "anna"),
    ],
)
def test_the_angle_address_decides_whatever_the_encoded_name_holds(
    gateway: Gateway, sink: Sink, from_header: str, requester: str
) -> None:
    address = f"{requester}@fabrikam.example"
    gateway.send(raw_mail(from_header, "Printer"), sender=address)

    (ticket,) = gateway.wait_for_tickets(1)
    assert (ticket["requester"], ticket["customer"]) == (address, "fabrikam")
    (ack,) = sink.wait_for_mail(address)
    assert ack.rcpt_tos == [address]
    assert not sink.to("evil@outside.example")


# --- 7. a storage path the daemon cannot use ---


def test_an_unusable_storage_path_is_named_by_check_config_and_run(
    tmp_path: Path, sink: Sink
) -> None:
    daemon = Gateway(tmp_path, sink)
    (tmp_path / "blocker").write_text("a file where a directory should be")
    text = daemon.config.read_text().replace("sqlite:///gateway.db", "sqlite:///blocker/db/g.db")
    daemon.config.write_text(text)

    checked = daemon.cli("check-config")
    assert checked.returncode == 2
    assert checked.stderr.strip() == (
        f"config.toml: storage.url: cannot create {tmp_path}/blocker/db: "
        f"{tmp_path}/blocker is not a directory"
    )
    run = subprocess.run(
        [sys.executable, "gatewayd.py", "run", "--config", str(daemon.config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 75
    assert run.stderr.splitlines()[-1] == (
        f"storage unavailable: cannot create {tmp_path}/blocker/db: Not a directory"
    )
    assert "Traceback" not in run.stderr


def test_a_client_that_connects_and_closes_holds_no_session(capped_gateway: Gateway) -> None:
    """aiosmtpd kept such a connection half open until smtp.timeout: four of them from one
    address would have capped it for five minutes."""
    for _ in range(4):
        socket.create_connection(
            ("127.0.0.1", capped_gateway.port), source_address=("127.0.0.5", 0)
        ).close()
    held: list[socket.socket] = []
    try:
        wait_for(
            lambda: greeting(capped_gateway.port, "127.0.0.5", held).startswith(b"220 "),
            5,
            "a session for 127.0.0.5",
        )
    finally:
        for connection in held:
            connection.close()
