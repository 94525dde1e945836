"""SMTP and pipe intake guarantees: no open relay, size limits, 250 only after commit, temporary
faults answered as temporary, and nothing lost to kill -9."""

from __future__ import annotations

import shutil
import smtplib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.conftest import PARTNER, REPO, Gateway, Sink, mail


def test_foreign_recipients_are_refused_at_rcpt(gateway: Gateway) -> None:
    with smtplib.SMTP("127.0.0.1", gateway.port) as smtp:
        smtp.ehlo()
        smtp.mail("spammer@elsewhere.example")
        code, text = smtp.rcpt("victim@elsewhere.example")
        assert code == 550 and b"5.7.1" in text
        code, _ = smtp.rcpt("victim@contoso.example.evil.example")
        assert code == 550
        code, _ = smtp.rcpt(PARTNER)
        assert code == 250
    assert gateway.tickets() == []


def test_oversized_message_is_refused_with_552(gateway: Gateway) -> None:
    big = mail(body=("x" * 70 + "\n") * 16_000).as_bytes()  # max_size = "1MB" in the config
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        gateway.send(big, sender="anna@fabrikam.example")  # smtplib declares SIZE= at MAIL
    assert refused.value.smtp_code == 552
    assert refused.value.smtp_error.startswith(b"5.3.4 ")  # RFC 3463: too big for the system
    with smtplib.SMTP("127.0.0.1", gateway.port) as smtp:  # a client that declares nothing
        smtp.ehlo()
        smtp.mail("anna@fabrikam.example")
        smtp.rcpt(PARTNER)
        code, text = smtp.data(big)
        assert code == 552 and text.startswith(b"5.3.4 ")
    gateway.send(mail(subject="small"))
    assert [t["subject"] for t in gateway.wait_for_tickets(1)] == ["small"]


@contextmanager
def database_locked(gateway: Gateway) -> Iterator[None]:
    """Another process holds SQLite's write lock: the storage is there but unusable for now."""
    connection = sqlite3.connect(gateway.home / "gateway.db", isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def test_storage_unavailable_gives_451_then_recovers(gateway: Gateway, sink: Sink) -> None:
    with database_locked(gateway):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            gateway.send(mail(subject="during the outage"))
        assert refused.value.smtp_code == 451
        assert b"4.3.0" in refused.value.smtp_error
        piped = gateway.cli("ingest", input=mail(subject="piped").as_bytes())
        assert piped.returncode == 75, piped.stderr
    # The daemon kept running; the sender's retry now succeeds.
    gateway.send(mail(subject="during the outage"))
    assert [t["subject"] for t in gateway.wait_for_tickets(1)] == ["during the outage"]
    sink.wait_for_mail("anna@fabrikam.example")


def test_kill_9_right_after_250_loses_nothing(tmp_path: Path, sink: Sink) -> None:
    gateway = Gateway(tmp_path, sink)
    gateway.start()
    for n in range(20):
        gateway.send(mail(sender=f"user{n}@fabrikam.example", subject=f"request {n}"))
    gateway.kill()  # no chance to process, deliver, or flush anything after the last 250

    gateway.start()
    try:
        tickets = gateway.wait_for_tickets(20, timeout=20)
        assert sorted(t["subject"] for t in tickets) == sorted(f"request {n}" for n in range(20))
        assert len({t["number"] for t in tickets}) == 20
        for n in range(20):
            sink.wait_for_mail(f"user{n}@fabrikam.example")
    finally:
        assert gateway.stop() == 0


def test_sigterm_stops_the_daemon_cleanly(tmp_path: Path, sink: Sink) -> None:
    gateway = Gateway(tmp_path, sink)
    gateway.start()
    gateway.send(mail())
    gateway.wait_for_tickets(1)
    assert gateway.stop() == 0
    assert "daemon.stopped" in gateway.log_text()


def test_ingest_stores_a_piped_message_for_the_daemon(gateway: Gateway, sink: Sink) -> None:
    result = gateway.cli(
        "ingest",
        "--sender",
        "anna@fabrikam.example",
        "--recipient",
        PARTNER,
        input=mail(subject="via the pipe").as_bytes(),
    )
    assert result.returncode == 0, result.stderr
    (ticket,) = gateway.wait_for_tickets(1)
    assert ticket["subject"] == "via the pipe"
    sink.wait_for_mail("anna@fabrikam.example")


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is installed by make test")
def test_readme_swaks_example_opens_a_ticket(gateway: Gateway) -> None:
    subprocess.run(
        [
            "swaks",
            "--server",
            f"127.0.0.1:{gateway.port}",
            "--from",
            "anna@fabrikam.example",
            "--to",
            PARTNER,
            "--header",
            "Subject: Teams does not start",
            "--body",
            "Teams crashes at start.",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    (ticket,) = gateway.wait_for_tickets(1)
    assert ticket["subject"] == "Teams does not start"


def test_a_port_in_use_is_a_clear_error(gateway: Gateway) -> None:
    result = subprocess.run(
        [sys.executable, "gatewayd.py", "run", "--config", str(gateway.config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"smtp.listen: cannot listen on 127.0.0.1:{gateway.port}" in result.stderr
    assert "Traceback" not in result.stderr
