"""Operations (issue 19), end to end: the systemd notify protocol on a socket of the test's own,
/metrics after a known sequence of mails, /healthz, `gatewayd status`, DKIM-signed mail that
dkimpy verifies, and `gatewayd backup` while intake runs.

One daemon serves the module's tests, in order: it is started with NOTIFY_SOCKET and a watchdog,
and the last test stops it and reads STOPPING.
"""

from __future__ import annotations

import base64
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e import postgres
from tests.e2e.conftest import PARTNER, Gateway, Sink, mail, wait_for
from tests.e2e.ports import free_port

pytestmark = pytest.mark.e2e

SELECTOR = "gw2026"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A DKIM private key file and the p= of its DNS record."""
    folder = tmp_path_factory.mktemp("dkim")
    private = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True,
                   capture_output=True)  # fmt: skip
    der = subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout  # fmt: skip
    return private, base64.b64encode(der)


@pytest.fixture(scope="module")
def notify_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, socket.socket]]:
    """A Unix datagram socket, as systemd listens on for its services' notifications."""
    path = str(tmp_path_factory.mktemp("notify") / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    yield path, sock
    sock.close()


@pytest.fixture(scope="module")
def relay() -> Iterator[Sink]:
    sink = Sink()
    sink.start()
    yield sink
    sink.stop()
    for received in sink.received:  # partner-only sending, as the sink fixture checks it
        assert received.mail_from == PARTNER
        assert received.message["From"].addresses[0].addr_spec == PARTNER


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory,
    relay: Sink,
    keys: tuple[Path, bytes],
    notify_socket: tuple[str, socket.socket],
) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("gateway")
    metrics_port = free_port()
    gateway = Gateway(home, relay, f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n')
    text = gateway.config.read_text().replace(
        'give_up_after = "3d"',
        f'give_up_after = "3d"\ndkim_key_file = "{keys[0]}"\ndkim_selector = "{SELECTOR}"',
    )
    gateway.config.write_text(text)
    gateway.metrics_port = metrics_port  # type: ignore[attr-defined]
    gateway.environment = {"NOTIFY_SOCKET": notify_socket[0], "WATCHDOG_USEC": "2000000"}
    gateway.start()
    yield gateway
    gateway.stop()
    assert "Traceback" not in gateway.log_text(), gateway.log_text()


def notifications(sock: socket.socket, until: str, timeout: float = 20) -> list[str]:
    """Every assignment received until one equals `until`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while until not in seen:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            seen += sock.recv(4096).decode().split("\n")
        except TimeoutError:
            raise AssertionError(f"no {until} within {timeout}s; got {seen}") from None
    return seen


def drain(sock: socket.socket) -> None:
    """Throw away what the daemon has said so far. Nobody reads its WATCHDOG=1 pings between
    the tests, and a receive buffer they filled drops the next datagram (STOPPING=1)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        while True:
            sock.recv(4096)
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(timeout)


def get(gateway: Gateway, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{gateway.metrics_port}{path}"  # type: ignore[attr-defined]
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(gateway: Gateway) -> dict[str, float]:
    """Each sample as 'name{label="value",...}' (labels sorted) -> value."""
    status, text = get(gateway, "/metrics")
    assert status == 200
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            found[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return found


def test_ready_comes_once_smtp_listens_and_watchdog_pings_follow(
    daemon: Gateway, notify_socket: tuple[str, socket.socket]
) -> None:
    _, sock = notify_socket
    seen = notifications(sock, "READY=1")
    assert f"MAINPID={daemon.process.pid}" in seen  # type: ignore[union-attr]
    assert daemon.accepting()  # READY is said only after the port is ours
    pings = notifications(sock, "WATCHDOG=1", timeout=5)  # every second: half of 2 s
    assert "WATCHDOG=1" in pings


def test_metrics_after_a_ticket_a_follow_up_a_robot_and_a_quarantine(
    daemon: Gateway, relay: Sink, keys: tuple[Path, bytes]
) -> None:
    first = mail(subject="Teams is down for everyone")
    daemon.send(first)
    (ticket,) = daemon.wait_for_tickets(1)
    reply = mail(subject=f"RE: [CONTOSO#{ticket['number']}] Teams is down for everyone",
                 body="It is still down.", In_Reply_To=str(first["Message-ID"]))  # fmt: skip
    daemon.send(reply)
    daemon.send(mail(sender="ooo@fabrikam.example", subject="Out of office",
                     Auto_Submitted="auto-replied"))  # fmt: skip
    daemon.send(b"", sender="empty@fabrikam.example")  # nothing to read: quarantined
    with pytest.raises(Exception, match="550"):  # not ours: refused at RCPT
        daemon.send(mail(), recipients=["someone@elsewhere.example"])
    wait_for(lambda: scrape(daemon).get('gatewayd_messages_processed_total{outcome="quarantined"}'),
             20, "the quarantine counted")  # fmt: skip
    found = scrape(daemon)
    for outcome, count in (("ticket", 1), ("follow_up", 1), ("robot", 1), ("quarantined", 1)):
        assert found[f'gatewayd_messages_processed_total{{outcome="{outcome}"}}'] == count
    assert found['gatewayd_messages_received_total{intake="smtp",outcome="accepted"}'] == 4
    assert found['gatewayd_messages_received_total{intake="smtp",outcome="refused"}'] == 1
    assert found["gatewayd_processing_latency_seconds_count"] == 4
    assert found['gatewayd_queue_messages{queue="quarantined"}'] == 1
    assert found["gatewayd_storage_up"] == 1 and found["gatewayd_worker_up"] == 1

    # The acknowledgement went out signed: dkimpy verifies it against the key's DNS record.
    (ack,) = relay.wait_for_mail("anna@fabrikam.example")
    assert ack.data.startswith(b"DKIM-Signature:")

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        wanted = f"{SELECTOR}._domainkey.contoso.example.".encode()
        return b"v=DKIM1; k=rsa; p=" + keys[1] if name == wanted else None

    assert dkim.verify(ack.data, dnsfunc=dns)

    # Each mail sent is timed once; read both from one scrape, once the outbox is at rest (the
    # agents' notifications may still be going out).
    def delivered() -> tuple[float, float] | None:
        found = scrape(daemon)
        sent = found['gatewayd_deliveries_total{outcome="sent"}']
        timed = found["gatewayd_delivery_latency_seconds_count"]
        return (sent, timed) if sent >= 1 and sent == timed else None

    assert wait_for(delivered, what="every mail sent timed once")

    # The relay goes down: mail waits in the outbox, and the retries are counted.
    relay.stop()
    try:
        daemon.send(mail(sender="bob@fabrikam.example", subject="Printer offline"))
        wait_for(lambda: scrape(daemon).get('gatewayd_deliveries_total{outcome="retry"}'), 20,
                 "a retry counted")  # fmt: skip
        assert scrape(daemon)['gatewayd_queue_messages{queue="outbox_waiting"}'] >= 1
    finally:
        relay.start()
    wait_for(lambda: relay.to("bob@fabrikam.example"), 20, "the waiting mail sent")


def test_healthz_and_status(daemon: Gateway) -> None:
    assert get(daemon, "/healthz") == (200, "ok\n")
    status = daemon.json("status")
    assert status["storage"]["ok"] is True
    assert status["queues"]["quarantined"] == 1
    assert status["daemon"]["healthz"] == "ok"
    text = daemon.cli("status")
    assert text.returncode == 0 and "quarantined" in text.stdout


def test_backup_while_intake_runs_holds_every_ticket_committed_before(
    daemon: Gateway, tmp_path: Path
) -> None:
    stop = threading.Event()

    def flood() -> None:
        n = 0
        while not stop.is_set() and n < 300:
            daemon.send(mail(sender=f"load{n}@tailwind.example", subject=f"load {n}"))
            n += 1

    sender = threading.Thread(target=flood)
    sender.start()
    try:
        wait_for(lambda: len(daemon.tickets()) >= 20, 30, "intake under way")
        before = {t["number"] for t in daemon.tickets()}
        copy = tmp_path / "backup.db"
        result = daemon.cli("backup", str(copy))
        assert result.returncode == 0, result.stderr
    finally:
        stop.set()
        sender.join()
    connection = sqlite3.connect(copy)
    try:
        numbers = {n for (n,) in connection.execute("SELECT number FROM tickets")}
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()
    assert before <= numbers


def test_sigterm_says_stopping(daemon: Gateway, notify_socket: tuple[str, socket.socket]) -> None:
    _, sock = notify_socket
    drain(sock)
    assert daemon.stop() == 0
    assert "STOPPING=1" in notifications(sock, "STOPPING=1")


def test_healthz_is_503_while_postgresql_is_down(
    tmp_path: Path, sink: Sink, pg_cluster: postgres.Postgres, database: str
) -> None:
    port = free_port()
    gateway = Gateway(tmp_path, sink, f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n', database)
    gateway.metrics_port = port  # type: ignore[attr-defined]
    gateway.start()
    try:
        # The daemon listens before its worker has started (a daemon that cannot listen starts
        # none), and /healthz says "worker: not running" until it has.
        wait_for(lambda: get(gateway, "/healthz") == (200, "ok\n"), 20, "200 once it all runs")
        pg_cluster.stop()
        status, text = wait_for(lambda: (r := get(gateway, "/healthz"))[0] == 503 and r, 30,
                                "503 while the database is down")  # fmt: skip
        assert text.startswith("database: ")
        assert scrape(gateway)["gatewayd_storage_up"] == 0
        pg_cluster.start()
        wait_for(lambda: get(gateway, "/healthz") == (200, "ok\n"), 30, "200 again")
    finally:
        assert gateway.stop() == 0
