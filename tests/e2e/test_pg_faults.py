"""Crashes and outages on PostgreSQL, under load, with real processes: a daemon killed with
kill -9 halfway through 1,000 messages, the database stopped and started, the relay stopped and
started. Nothing that got 250 is lost, nothing is doubled, and the daemons catch up by
themselves."""

from __future__ import annotations

import contextlib
import queue
import re
import shutil
import smtplib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.e2e.conftest import PARTNER, Gateway, Sink, mail, two_daemons, wait_for
from tests.e2e.dovecot import DOVECOT, Dovecot
from tests.e2e.postgres import Postgres, available
from tests.e2e.test_imap import SUPPORT, imap_config

pytestmark = pytest.mark.skipif(not available(), reason="postgresql is installed by make test")
needs_dovecot = pytest.mark.skipif(
    shutil.which("dovecot") is None and not Path(DOVECOT).exists(),
    reason="dovecot is installed by make test",
)

# One delivery loop per daemon sends one message at a time: when a daemon is killed, at most
# that one message can be on the wire, accepted by the relay but not yet marked as sent.
SENDING_AT_ONCE_PER_DAEMON = 1
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def customer(n: int) -> str:
    return f"user{n}@fabrikam.example"


def customer_mails(count: int, start: int = 0) -> dict[int, bytes]:
    """Distinct mails, built once: a resend must be the very same message, as an MTA's is."""
    return {
        n: mail(
            sender=customer(n), subject=f"Request {n}", body=f"Please help with {n}.\n"
        ).as_bytes()
        for n in range(start, start + count)
    }


class Clients:
    """Parallel SMTP client sessions, as an MTA runs them: each keeps its connection for many
    messages, opens a new one after an error, and records the answer each message got (None:
    no answer, the connection broke or was refused). Message n goes to ports[n % len(ports)]."""

    def __init__(
        self, mails: dict[int, bytes], ports: Sequence[int], sessions: int, pause: float = 0.0
    ) -> None:
        self.mails = mails
        self.ports = list(ports)
        self.pause = pause  # after each message: mail flowing steadily rather than a flood
        self.answers: dict[int, int | None] = {}
        self.accepted = 0
        self._lock = threading.Lock()
        self._todo: queue.Queue[int | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._session, name=f"smtp-client-{i}", daemon=True)
            for i in range(sessions)
        ]
        for thread in self._threads:
            thread.start()

    def send(self, numbers: Iterable[int]) -> None:
        for n in numbers:
            self._todo.put(n)

    def count(self, code: int) -> int:
        with self._lock:
            return sum(answer == code for answer in self.answers.values())

    def stop(self) -> dict[int, int | None]:
        """Send no more of what is queued (it stays without an answer); finish the rest."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._todo.get_nowait()
        return self.finish()

    def finish(self, timeout: float = 120) -> dict[int, int | None]:
        """Wait until every message queued so far has its answer; stops the sessions."""
        for _ in self._threads:
            self._todo.put(None)
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), "an SMTP client session hangs"
        return self.answers

    def _session(self) -> None:
        connections: dict[int, smtplib.SMTP] = {}
        while (n := self._todo.get()) is not None:
            port = self.ports[n % len(self.ports)]
            code = self._send_one(connections, port, n)
            with self._lock:
                self.answers[n] = code
                self.accepted += code == 250
            time.sleep(self.pause)
        for connection in connections.values():
            _quit(connection)

    def _send_one(self, connections: dict[int, smtplib.SMTP], port: int, n: int) -> int | None:
        try:
            if port not in connections:
                connections[port] = smtplib.SMTP("127.0.0.1", port, timeout=30)
            connections[port].sendmail(customer(n), [PARTNER], self.mails[n])
        except smtplib.SMTPResponseException as exc:  # 4xx or 5xx at DATA; the session goes on
            return exc.smtp_code
        except (OSError, smtplib.SMTPException):  # refused, reset, or closed without an answer
            broken = connections.pop(port, None)
            if broken is not None:
                _quit(broken)
            return None
        return 250


def _quit(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        connection.close()


def message_ids(received: Iterable[bytes]) -> Counter[bytes]:
    return Counter(m.group(1) for data in received if (m := _MESSAGE_ID.search(data)))


def acknowledged(sink: Sink) -> set[str]:
    """Customers the sink has an acknowledgement for (agents get notifications, not those)."""
    return {r.rcpt_tos[0] for r in list(sink.received) if r.rcpt_tos[0].startswith("user")}


def test_kill_9_of_one_of_two_daemons_halfway_through_1000_messages(
    tmp_path: Path, sink: Sink, database: str
) -> None:
    count = 1000
    started = time.monotonic()
    victim, survivor = daemons = two_daemons(tmp_path, sink, database)
    try:
        mails = customer_mails(count)
        clients = Clients(mails, [victim.port, survivor.port], sessions=8)
        clients.send(range(count))
        wait_for(lambda: clients.accepted >= count // 2, 60, "half of the mail to be accepted")
        victim.kill()
        killed_at = clients.accepted
        answers = clients.finish()
        assert killed_at < count * 0.6, "the kill came too late to prove anything"
        assert not [code for code in answers.values() if code and code != 250]
        unanswered = sorted(n for n, code in answers.items() if code != 250)
        assert unanswered, "no client of the killed daemon saw it die"

        # The MTA retries what got no 250 at the daemon that is left. A message the victim
        # committed just before it died comes again and must not be stored twice.
        retry = Clients(mails, [survivor.port], sessions=4)
        retry.send(unanswered)
        assert set(retry.finish().values()) == {250}
        victim.start()

        customers = {customer(n) for n in range(count)}
        wait_for(lambda: acknowledged(sink) >= customers, 90, "an acknowledgement to everyone")
        wait_for(lambda: survivor.json("outbox", "list") == [], 30, "an empty outbox")
        tickets = survivor.tickets()
        assert len(tickets) == count
        assert sorted(t["subject"] for t in tickets) == sorted(f"Request {n}" for n in range(count))
        assert len({t["number"] for t in tickets}) == count  # ticket numbers never collide

        sent = survivor.json("outbox", "list", "--all")
        assert {r["state"] for r in sent} == {"sent"}
        ids = message_ids(r.data for r in list(sink.received))
        assert set(ids) == {r["message_id"].encode() for r in sent}  # every mail, none extra
        duplicates = sum(times - 1 for times in ids.values())
        stored_before = survivor.log_text().count("raw=duplicate")
        print(
            f"\nkill -9 at {killed_at} of {count} accepted; {len(unanswered)} resent to the "
            f"other daemon, {stored_before} of them stored already; "
            f"{len(sent)} mails sent, {duplicates} sent twice; "
            f"{time.monotonic() - started:.1f}s in all"
        )
        assert duplicates <= SENDING_AT_ONCE_PER_DAEMON
    finally:
        for daemon in daemons:
            assert daemon.stop() == 0, daemon.log_text()


@needs_dovecot
@pytest.mark.parametrize(
    ("mode", "outage"),
    [("fast", 0), ("immediate", 18)],  # a quick restart; a crash, and 18 s until it is back
)
def test_database_stopped_and_started_under_load(
    tmp_path: Path, sink: Sink, pg_cluster: Postgres, dovecot: Dovecot, mode: str, outage: float
) -> None:
    database = pg_cluster.create_database("gatewayd")
    gateway = Gateway(tmp_path, sink, imap_config(dovecot, poll="1s"), storage_url=database)
    gateway.start()
    daemon = gateway.process
    try:
        mails = customer_mails(3000)
        clients = Clients(mails, [gateway.port], sessions=2, pause=0.2)
        clients.send(range(3000))
        wait_for(lambda: len(acknowledged(sink)) >= 20, 30, "mail to flow through")

        pg_cluster.stop(mode)
        stopped = time.monotonic()
        wait_for(lambda: clients.count(451) >= 20, 30, "451 answers while the database is down")
        piped = customer_mails(1, start=5000)[5000]
        result = gateway.cli("ingest", input=piped)
        assert result.returncode == 75, result.stderr
        by_imap = customer_mails(10, start=6000)
        dovecot.append(SUPPORT, list(by_imap.values()))
        time.sleep(3)  # the reader sees the new mail and tries to store it, again and again
        assert len(dovecot.uids(SUPPORT)) == len(by_imap)  # left on the server
        assert daemon.poll() is None
        time.sleep(max(0.0, stopped + outage - time.monotonic()))

        pg_cluster.start()
        back = time.monotonic()
        down = back - stopped
        accepted_before = clients.accepted
        wait_for(lambda: clients.accepted > accepted_before + 20, 30, "250 again")
        answers = clients.stop()
        assert set(answers.values()) == {250, 451}  # never 5xx, no session dropped
        stored = {customer(n) for n, code in answers.items() if code == 250}
        expected = stored | {customer(n) for n in by_imap}
        wait_for(lambda: acknowledged(sink) >= expected, 60, "every stored mail acknowledged")
        wait_for(lambda: dovecot.uids(SUPPORT) == [], 30, "the mailbox taken")
        mailbox_read = time.monotonic() - back
        wait_for(lambda: gateway.json("outbox", "list") == [], 30, "an empty outbox")
        caught_up = time.monotonic() - back
        assert len(dovecot.uids(SUPPORT, "Processed")) == len(by_imap)
        subjects = {t["subject"] for t in gateway.tickets()}
        assert {f"Request {n}" for n in answers if answers[n] == 250} <= subjects
        assert gateway.process is daemon and daemon.poll() is None  # never restarted

        # The senders retry what got 451, the pipe's MTA too: now everything is a ticket.
        retry = Clients(mails, [gateway.port], sessions=2)
        retry.send(n for n, code in answers.items() if code == 451)
        assert set(retry.finish().values()) == {250}
        assert gateway.cli("ingest", input=piped).returncode == 0
        everyone = {customer(n) for n in [*answers, *by_imap, 5000]}
        wait_for(lambda: acknowledged(sink) >= everyone, 60, "every retried mail acknowledged")
        tickets = gateway.tickets()
        assert len(tickets) == len({t["subject"] for t in tickets}) == len(everyone)
        ids = message_ids(r.data for r in list(sink.received))
        duplicates = sum(ids.values()) - len(ids)
        print(
            f"\npg_ctl stop -m {mode}, down {down:.1f}s: {clients.count(451)} answered 451, "
            f"{len(stored)} with 250 during the test; mailbox read {mailbox_read:.1f}s and "
            f"everything caught up {caught_up:.1f}s after the database came back; "
            f"{duplicates} mails sent twice"
        )
        # The reader does not wait out a backoff grown during the outage (up to a minute;
        # after 18 s down, the next try of a doubling backoff would come 13 s late).
        assert mailbox_read < 8
        # The relay took it, and then the database was gone before the row said so.
        assert duplicates <= SENDING_AT_ONCE_PER_DAEMON
        assert "Traceback" not in gateway.log_text()
    finally:
        assert gateway.stop() == 0, gateway.log_text()


def test_relay_stopped_and_started_under_load(tmp_path: Path, sink: Sink, database: str) -> None:
    count = 200  # each makes an acknowledgement and two notifications
    daemons = two_daemons(tmp_path, sink, database)
    try:
        sink.stop()
        down = time.monotonic()
        clients = Clients(customer_mails(count), [d.port for d in daemons], sessions=4)
        clients.send(range(count))
        assert set(clients.finish().values()) == {250}

        def tried_twice() -> list[dict[str, object]] | None:
            rows = daemons[0].json("outbox", "list")
            retried = len(rows) == 3 * count and all(r["attempts"] >= 2 for r in rows)
            return rows if retried else None

        rows = wait_for(tried_twice, 60, "every queued mail tried and retried")
        down = time.monotonic() - down
        assert {r["state"] for r in rows} == {"pending"}
        assert all("Connection refused" in str(r["last_error"]) for r in rows)
        # retry_initial 1s, retry_max 2s: with backoff, no mail is tried more than once a
        # second; without it, hundreds of times.
        most = max(int(str(r["attempts"])) for r in rows)
        assert most <= down + 2

        sink.start()  # the smarthost is back, on the same port
        back = time.monotonic()
        customers = {customer(n) for n in range(count)}
        wait_for(lambda: acknowledged(sink) >= customers, 60, "an acknowledgement to everyone")
        wait_for(lambda: daemons[1].json("outbox", "list") == [], 30, "an empty outbox")
        drained = time.monotonic() - back
        sent = daemons[1].json("outbox", "list", "--all")
        ids = message_ids(r.data for r in list(sink.received))
        assert len(sent) == 3 * count
        assert set(ids) == {r["message_id"].encode() for r in sent}
        assert set(ids.values()) == {1}  # every mail once, the acknowledgements among them
        assert all("outbox.sent" in d.log_text() for d in daemons)  # both took a share
        print(
            f"\nrelay down {down:.1f}s: {len(rows)} mails queued, tried up to {most} times; "
            f"drained {drained:.1f}s after it came back"
        )
    finally:
        for daemon in daemons:
            assert daemon.stop() == 0, daemon.log_text()


@pytest.fixture
def silent_database() -> Iterator[str]:
    """A storage.url whose server takes the connection and never says a word (a database host
    that hangs, or a firewall that swallows the traffic)."""
    listener = socket.create_server(("127.0.0.1", 0))
    taken: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # closed at the end of the test
            while True:
                taken.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"postgresql+psycopg://postgres@127.0.0.1:{listener.getsockname()[1]}/gatewayd"
    listener.close()
    for connection in taken:
        connection.close()


def test_a_database_that_does_not_answer_is_unavailable_not_a_hang(
    tmp_path: Path, sink: Sink, silent_database: str
) -> None:
    gateway = Gateway(tmp_path, sink, storage_url=silent_database)  # not started: `ingest` only
    started = time.monotonic()
    result = gateway.cli("ingest", input=mail().as_bytes())  # fails after 60 s if it hangs
    assert result.returncode == 75, result.stderr
    assert "timeout" in result.stderr
    assert time.monotonic() - started < 30  # the MTA is told to retry, and soon


@needs_dovecot
def test_after_a_database_restart_a_standing_by_daemon_still_takes_a_mailbox_over(
    tmp_path: Path, sink: Sink, pg_cluster: Postgres, dovecot: Dovecot
) -> None:
    database = pg_cluster.create_database("gatewayd")
    daemons = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        daemons.append(Gateway(tmp_path / name, sink, imap_config(dovecot), storage_url=database))
        daemons[-1].start()
    try:
        batches = [customer_mails(5, start=6000 + 5 * b) for b in range(3)]
        dovecot.append(SUPPORT, list(batches[0].values()))
        daemons[0].wait_for_tickets(5, timeout=30)

        # Every session ends, the lock holder's and the one standing by alike.
        pg_cluster.stop("fast")
        pg_cluster.start()
        logged = [len(d.log_text()) for d in daemons]
        dovecot.append(SUPPORT, list(batches[1].values()))
        daemons[0].wait_for_tickets(10, timeout=30)
        taken = [
            d for d, n in zip(daemons, logged, strict=True) if "imap.taken" in d.log_text()[n:]
        ]
        (reader,) = taken  # one of them, whichever took the lock first
        (other,) = [d for d in daemons if d is not reader]

        reader.kill()
        daemons.remove(reader)
        dovecot.append(SUPPORT, list(batches[2].values()))
        tickets = other.wait_for_tickets(15, timeout=30)
        assert len({t["subject"] for t in tickets}) == 15
        assert dovecot.uids(SUPPORT) == []
    finally:
        for daemon in daemons:
            assert daemon.stop() == 0, daemon.log_text()
