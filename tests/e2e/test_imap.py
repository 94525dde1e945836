"""Mailbox intake against a real Dovecot: backlog, IDLE push, move or flag, crashes, outages,
authentication (password, XOAUTH2, TLS with a private CA) and several mailboxes at once."""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from gateway.runtime import services
from tests.e2e.conftest import (
    IMAP_OTHER,
    IMAP_PASSWORD,
    IMAP_SUPPORT,
    Gateway,
    Sink,
    mail,
    wait_for,
)
from tests.e2e.dovecot import DOVECOT, Dovecot

pytestmark = pytest.mark.skipif(
    shutil.which("dovecot") is None and not Path(DOVECOT).exists(),
    reason="dovecot is installed by make test",
)

SUPPORT, OTHER, PASSWORD = IMAP_SUPPORT, IMAP_OTHER, IMAP_PASSWORD
ALERT_CHECK_SECONDS = float(services.named("alert-check").every)  # type: ignore[arg-type]
READER, WORKER = services.named("imap-reader"), services.named("worker")


def imap_config(dovecot: Dovecot, name: str = "shared", user: str = SUPPORT, **keys: object) -> str:
    settings: dict[str, object] = {
        "name": name,
        "host": "127.0.0.1",
        "port": dovecot.port,
        "tls": False,
        "starttls": True,
        "username": user,
        "password": dovecot.users.get(user, ""),
        "ca_file": str(dovecot.cert),
        "done_folder": "Processed",
        "poll": "2s",
    }
    settings.update(keys)
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items() if value is not None]
    return "\n[[imap]]\n" + "\n".join(lines) + "\n"


def customer_mail(n: int, sender: str = "anna@fabrikam.example") -> bytes:
    return mail(sender=sender, subject=f"Request {n}", body=f"Please help with {n}.").as_bytes()


def start_gateway(tmp_path: Path, sink: Sink, extra: str) -> Gateway:
    (tmp_path / "gateway").mkdir(exist_ok=True)
    gateway = Gateway(tmp_path / "gateway", sink, extra)
    gateway.start()
    return gateway


@pytest.fixture
def stop_after() -> Iterator[list[Gateway]]:
    started: list[Gateway] = []
    yield started
    for gateway in started:
        assert gateway.stop() == 0, gateway.log_text()
        assert "Traceback" not in gateway.log_text(), gateway.log_text()


def subjects(gateway: Gateway) -> list[str]:
    return sorted(t["subject"] for t in gateway.tickets())


def test_backlog_is_taken_and_moved_once_committed(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    dovecot.append(SUPPORT, [customer_mail(n, f"user{n}@fabrikam.example") for n in range(5)])
    gateway = start_gateway(tmp_path, sink, imap_config(dovecot))
    stop_after.append(gateway)

    gateway.wait_for_tickets(5)
    assert subjects(gateway) == [f"Request {n}" for n in range(5)]
    wait_for(lambda: dovecot.uids(SUPPORT) == [], 10, "an empty INBOX")
    assert len(dovecot.uids(SUPPORT, "Processed")) == 5
    assert "done=move" in gateway.log_text()
    for n in range(5):
        sink.wait_for_mail(f"user{n}@fabrikam.example")


def test_idle_push_makes_a_ticket_within_two_seconds(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    # poll = 10m: only IDLE can bring the message in time.
    gateway = start_gateway(tmp_path, sink, imap_config(dovecot, poll="10m"))
    stop_after.append(gateway)
    wait_for(lambda: "imap.taken" in gateway.log_text() or _idling(gateway), 10, "reader ready")
    time.sleep(0.5)

    started = time.monotonic()
    dovecot.append(SUPPORT, [customer_mail(1)])
    gateway.wait_for_tickets(1, timeout=5)
    assert time.monotonic() - started < 2.0


def test_a_reader_runs_below_the_worker_s_cpu_priority(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    """IMAP intake comes last (gateway/runtime/services.py, "imap-reader"): no sender waits for
    it."""
    gateway = start_gateway(tmp_path, sink, imap_config(dovecot, poll="10m"))
    stop_after.append(gateway)
    assert gateway.process is not None
    wait_for(lambda: "worker.running" in gateway.log_text(), 10, "the worker")
    worker = int(re.findall(r"worker\.started pid=(\d+)", gateway.log_text())[-1])

    daemon_threads = niceness_of_threads(gateway.process.pid)
    assert daemon_threads.count(READER.niceness) == 1  # the one mailbox's reader
    assert set(daemon_threads) == {0, READER.niceness}
    assert set(niceness_of_threads(worker)) == {WORKER.niceness}


def niceness_of_threads(pid: int) -> list[int]:
    """Field 19 of /proc/PID/task/TID/stat for each thread of a process."""
    return [
        int(stat.read_text().rsplit(")", 1)[1].split()[16])
        for stat in Path(f"/proc/{pid}/task").glob("*/stat")
    ]


def _idling(gateway: Gateway) -> bool:
    return "daemon.started" in gateway.log_text()


def test_without_move_and_idle_it_copies_expunges_and_polls(
    tmp_path: Path, sink: Sink, dovecot_home: Path, stop_after: list[Gateway]
) -> None:
    # An older server: no MOVE (RFC 6851), no IDLE; UIDPLUS lets us expunge only our messages.
    old = Dovecot(dovecot_home / "old", {SUPPORT: PASSWORD}, capabilities="IMAP4rev1 UIDPLUS")
    old.start()
    try:
        client = old.client(SUPPORT)
        assert not client.has_capability("MOVE") and not client.has_capability("IDLE")
        client.logout()
        old.append(SUPPORT, [customer_mail(1)])
        gateway = start_gateway(tmp_path, sink, imap_config(old, poll="1s"))
        stop_after.append(gateway)
        gateway.wait_for_tickets(1)
        old.append(SUPPORT, [customer_mail(2)])  # found by the next poll
        gateway.wait_for_tickets(2, timeout=10)
        wait_for(lambda: old.uids(SUPPORT) == [], 10, "an empty INBOX")
        assert len(old.uids(SUPPORT, "Processed")) == 2
        assert old.uids(SUPPORT, criteria="DELETED") == []
        assert "done=copy" in gateway.log_text() and "done=move" not in gateway.log_text()
    finally:
        old.stop()


def test_flag_mode_marks_seen_and_never_takes_a_message_twice(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    dovecot.append(SUPPORT, [customer_mail(n) for n in range(3)])
    extra = imap_config(dovecot, done_folder="")
    gateway = start_gateway(tmp_path, sink, extra)
    gateway.wait_for_tickets(3)
    wait_for(lambda: dovecot.uids(SUPPORT, criteria="SEEN") == [1, 2, 3], 10, "all \\Seen")
    assert gateway.stop() == 0

    # A person marks one unread again in Outlook; a restart must not make new tickets.
    client = dovecot.client(SUPPORT)
    client.select_folder("INBOX")
    client.remove_flags([2], [b"\\Seen"])
    client.logout()
    gateway.start()
    stop_after.append(gateway)
    dovecot.append(SUPPORT, [customer_mail(3)])
    gateway.wait_for_tickets(4)
    wait_for(lambda: dovecot.uids(SUPPORT, criteria="UNSEEN") == [], 10, "all \\Seen again")
    assert subjects(gateway) == [f"Request {n}" for n in range(4)]
    assert len(dovecot.uids(SUPPORT)) == 4  # nothing moved or deleted in flag mode


def test_kill_9_in_the_middle_of_a_batch_loses_and_repeats_nothing(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    count = 1200
    dovecot.append(SUPPORT, [customer_mail(n, f"user{n}@fabrikam.example") for n in range(count)])
    gateway = start_gateway(tmp_path, sink, imap_config(dovecot))
    database = gateway.home / "gateway.db"

    def stored() -> int:
        with sqlite3.connect(database) as connection:
            return int(connection.execute("select count(*) from raw_messages").fetchone()[0])

    wait_for(lambda: stored() > 0, 20, "the first batch to be stored")
    gateway.kill()
    left = len(dovecot.uids(SUPPORT))
    assert left > 0 or stored() < count, "the kill came too late to prove anything"

    gateway.start()
    stop_after.append(gateway)
    wait_for(lambda: dovecot.uids(SUPPORT) == [], 30, "an empty INBOX")
    tickets = gateway.wait_for_tickets(count, timeout=60)
    assert len(tickets) == count
    assert len({t["subject"] for t in tickets}) == count
    assert stored() == count
    assert len(dovecot.uids(SUPPORT, "Processed")) == count


def test_dovecot_down_then_up_while_smtp_keeps_working(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    alerts = '\n[alerts]\nstall_after = "5s"\n'
    gateway = start_gateway(tmp_path, sink, imap_config(dovecot, poll="1s") + alerts)
    stop_after.append(gateway)
    dovecot.append(SUPPORT, [customer_mail(1)])
    gateway.wait_for_tickets(1)

    dovecot.stop()
    gateway.send(mail(subject="by SMTP during the IMAP outage"))
    gateway.wait_for_tickets(2)
    wait_for(lambda: "imap.fault" in gateway.log_text(), 10, "the fault to be logged")
    # Not read for 3 x poll: an error, checked by the "mailbox-check" timer (every 10 s).
    wait_for(lambda: "imap.stalled" in gateway.log_text(), 25, "the stalled mailbox logged")
    assert "ERROR gateway.daemon imap.stalled mailbox=shared" in gateway.log_text()
    assert "not read for" in gateway.log_text()

    # Not read for [alerts] stall_after: the admin-agent is told, once (issue 19).
    def told() -> list[str]:
        mails = sink.to("priya@contoso.example")  # she also hears of her queue's tickets
        return [m.message["Subject"] for m in mails if "[gatewayd]" in m.message["Subject"]]

    wait_for(told, 30, "the stall told to the admin-agent")
    assert told()[0].startswith("[gatewayd] mailbox shared has not been read since")
    assert not [m for m in sink.to("jan@contoso.example") if "[gatewayd]" in m.message["Subject"]]

    dovecot.start()
    dovecot.append(SUPPORT, [customer_mail(2)])
    gateway.wait_for_tickets(3, timeout=60)
    assert "Request 2" in subjects(gateway)
    wait_for(lambda: "imap.recovered" in gateway.log_text(), 10, "recovery to be logged")
    wait_for(lambda: len(told()) >= 2, 30, "the resolved notice")
    assert told()[1].startswith("[gatewayd] resolved: mailbox shared has not been read")
    time.sleep(ALERT_CHECK_SECONDS + 1)  # one more check: nothing more is told
    assert len(told()) == 2


def test_a_wrong_password_is_logged_and_told_to_admins_once_an_hour(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    gateway = start_gateway(tmp_path, sink, imap_config(dovecot, password="wrong", poll="1s"))
    stop_after.append(gateway)

    (notice,) = sink.wait_for_mail("priya@contoso.example", timeout=30)  # the admin-agent
    assert "mailbox shared is not being read" in notice.message["Subject"]
    assert "login refused" in notice.message.get_content()
    assert "wrong" not in notice.message.get_content()  # no secret in the notice
    assert sink.to("jan@contoso.example") == []  # not an admin-agent
    wait_for(lambda: gateway.log_text().count("imap.stalled") >= 2, 30, "repeated errors")
    assert "ERROR gateway.daemon imap.stalled" in gateway.log_text()
    assert len(sink.to("priya@contoso.example")) == 1
    assert "wrong" not in gateway.log_text().replace("imap-secret", "")


def test_a_server_certificate_not_from_the_configured_ca_is_refused(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    dovecot.append(SUPPORT, [customer_mail(1)])
    gateway = start_gateway(tmp_path, sink, imap_config(dovecot, ca_file="", poll="1s"))
    stop_after.append(gateway)
    wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in gateway.log_text(), 10, "the TLS refusal")
    assert gateway.tickets() == []
    assert dovecot.uids(SUPPORT) == [1]


def test_two_mailboxes_at_once_one_with_implicit_tls(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    dovecot.append(SUPPORT, [customer_mail(n) for n in range(3)])
    dovecot.append(OTHER, [customer_mail(n, "bob@adatum.example") for n in range(3, 6)])
    extra = imap_config(dovecot) + imap_config(
        dovecot, name="helpdesk", user=OTHER, port=dovecot.tls_port, tls=True, starttls=False
    )
    gateway = start_gateway(tmp_path, sink, extra)
    stop_after.append(gateway)

    gateway.wait_for_tickets(6)
    assert subjects(gateway) == [f"Request {n}" for n in range(6)]
    wait_for(lambda: dovecot.uids(SUPPORT) == dovecot.uids(OTHER) == [], 10, "empty INBOXes")


def test_the_same_mail_by_smtp_and_by_imap_is_one_entry(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    gateway = start_gateway(tmp_path, sink, imap_config(dovecot))
    stop_after.append(gateway)
    message = mail(subject="To support, Cc helpdesk")
    message["Cc"] = OTHER
    gateway.send(message, recipients=[SUPPORT, OTHER])
    gateway.wait_for_tickets(1)
    # The mailbox copy went through another MTA, which added its trace headers.
    copy = b"Received: from mx.contoso.example by imap.contoso.example\r\n" + message.as_bytes()
    dovecot.append(SUPPORT, [copy])
    wait_for(lambda: dovecot.uids(SUPPORT) == [], 10, "the copy to be taken")
    time.sleep(1)
    (ticket,) = gateway.tickets()
    assert len([m for m in gateway.ticket(1)["messages"] if m["direction"] == "in"]) == 1
    assert ticket["subject"] == "To support, Cc helpdesk"


def test_a_new_uidvalidity_does_not_bring_old_mail_back(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    dovecot.append(SUPPORT, [customer_mail(n) for n in range(3)])
    gateway = start_gateway(tmp_path, sink, imap_config(dovecot, done_folder=""))
    gateway.wait_for_tickets(3)
    wait_for(lambda: len(dovecot.uids(SUPPORT, criteria="SEEN")) == 3, 10, "all \\Seen")
    assert gateway.stop() == 0

    # Losing Dovecot's UID list renumbers the folder with a new UIDVALIDITY, as a server
    # migration would.
    dovecot.stop()
    for index in (dovecot.home / "mail").rglob("dovecot*"):
        index.unlink()
    dovecot.start()
    gateway.start()
    stop_after.append(gateway)
    dovecot.append(SUPPORT, [customer_mail(3)])
    gateway.wait_for_tickets(4)
    wait_for(lambda: "imap.uidvalidity_changed" in gateway.log_text(), 10, "the change logged")
    time.sleep(1)
    assert subjects(gateway) == [f"Request {n}" for n in range(4)]


class Introspection(BaseHTTPRequestHandler):
    """OAuth2 token introspection (RFC 7662) as Entra ID would answer Dovecot."""

    tokens = {"good-token": SUPPORT}

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        token = parse_qs(self.rfile.read(length).decode()).get("token", [""])[0]
        user = self.tokens.get(token)
        body = json.dumps({"active": True, "username": user} if user else {"active": False})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def oauth_dovecot(dovecot_home: Path) -> Iterator[Dovecot]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Introspection)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/introspect"
    dovecot = Dovecot(dovecot_home / "oauth", {SUPPORT: "good-token"}, oauth_url=url)
    dovecot.start()
    yield dovecot
    dovecot.stop()
    server.shutdown()
    server.server_close()


def test_xoauth2_with_a_token_command(
    tmp_path: Path, sink: Sink, oauth_dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    oauth_dovecot.append(SUPPORT, [customer_mail(1)])
    runs = tmp_path / "token-runs"
    command = f"echo run >> {runs}; printf good-token"
    extra = imap_config(oauth_dovecot, password=None, auth="xoauth2", token_command=command)
    gateway = start_gateway(tmp_path, sink, extra)
    stop_after.append(gateway)
    gateway.wait_for_tickets(1)
    assert runs.read_text() == "run\n"  # cached, not run per connection
    assert "good-token" not in gateway.log_text()


def test_a_token_command_that_fails_is_reported(
    tmp_path: Path, sink: Sink, oauth_dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    extra = imap_config(
        oauth_dovecot, password=None, auth="xoauth2", token_command="exit 3", poll="1s"
    )
    gateway = start_gateway(tmp_path, sink, extra)
    stop_after.append(gateway)
    (notice,) = sink.wait_for_mail("priya@contoso.example", timeout=30)
    assert "token_command: exited with status 3" in notice.message.get_content()


def test_sighup_starts_a_mailbox_added_to_the_config(
    tmp_path: Path, sink: Sink, dovecot: Dovecot, stop_after: list[Gateway]
) -> None:
    gateway = start_gateway(tmp_path, sink, "")
    stop_after.append(gateway)
    dovecot.append(SUPPORT, [customer_mail(1)])
    with gateway.config.open("a") as config:
        config.write(imap_config(dovecot))
    assert gateway.process is not None
    gateway.process.send_signal(signal.SIGHUP)
    gateway.wait_for_tickets(1)
    assert "imap.restarted mailboxes=1" in gateway.log_text()
