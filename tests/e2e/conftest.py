"""Fixtures that start real things: the daemon as a process on free ports, and an aiosmtpd sink
as its outbound relay. Tests talk to the daemon with smtplib and read back through the CLI."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.e2e import postgres
from tests.e2e.dovecot import Dovecot
from tests.e2e.ports import free_port

REPO = Path(__file__).resolve().parents[2]
PARTNER = "support@contoso.example"
IMAP_SUPPORT, IMAP_OTHER, IMAP_PASSWORD = PARTNER, "helpdesk@contoso.example", "imap-secret"
# The shipped corpus's triage model, trained once for all the test daemons of this machine: a
# daemon in a fresh home trains it first (seconds of CPU, and a first mail that waits), which
# most tests do not test. Shared by the xdist workers; the name changes with corpus and code.
TRIAGE_MODELS = Path(tempfile.gettempdir()) / "gatewayd-tests-triage"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Sink:
    """The outbound relay: an aiosmtpd server that keeps everything it is given."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 OK"

    def start(self) -> None:
        # SMTPUTF8 as a smarthost such as Postfix offers it: answers to josé@ can go out.
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    def wait_for_mail(self, address: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        return wait_for(
            lambda: len(self.to(address)) >= count and self.to(address),
            timeout,
            f"{count} mail(s) to {address}",
        )


def config_text(smtp_port: int, relay: str, extra: str = "") -> str:
    return (
        textwrap.dedent(f"""\
        [partner]
        name = "Contoso Cloud"
        address = "{PARTNER}"
        domains = ["contoso.example", "contoso-support.example"]
        ticket_tag = "CONTOSO"
        secret = "test-secret-that-is-long-enough"

        [support]
        hours = "Mon-Fri 08:00-18:00"
        timezone = "Europe/Amsterdam"
        contact = "support@contoso.example, +31 20 555 0100"
        pricing = "Included in your plan; priority support EUR 95/hour"
        first_response = "4h"
        self_help = "https://support.microsoft.com"
        acks_per_hour = 3
        digest = false

        [storage]
        url = "sqlite:///gateway.db"

        [smtp]
        listen = "127.0.0.1:{smtp_port}"
        max_size = "1MB"

        [outbound]
        relay = "{relay}"
        retry_initial = "1s"
        retry_max = "2s"
        give_up_after = "3d"

        [[parties]]
        id = "northwind"
        name = "Northwind Distribution"
        address = "csp-support@northwind.example"

        [[customers]]
        id = "fabrikam"
        name = "Fabrikam BV"
        domains = ["fabrikam.example"]
        tenant = "fabrikam.onmicrosoft.com"
        billing = "direct"
        language = "nl"

        [[customers]]
        id = "tailwind"
        name = "Tailwind Traders"
        domains = ["tailwind.example"]
        billing = "direct"

        [[customers]]
        id = "adatum"
        name = "Adatum Corporation"
        domains = ["adatum.example"]
        billing = "indirect"
        provider = "northwind"
        direct_microsoft = true
        language = "en"

        [[agents]]
        address = "jan@contoso.example"
        name = "Jan de Vries"
        customers = ["*"]
        queues = ["helpdesk", "sales"]

        [microsoft]
        escalation_address = "escalations@microsoft.example"

        [[agents]]
        address = "sam@contoso.example"
        name = "Sam Support"
        roles = ["service-support-admin"]
        customers = ["fabrikam", "adatum"]
        queues = ["escalations"]

        [[agents]]
        address = "priya@contoso.example"
        name = "Priya Raman"
        roles = ["service-support-admin", "admin-agent"]
        customers = ["fabrikam"]
        queues = ["helpdesk"]
        """)
        + extra
    )


def _stat(path: Path | None) -> os.stat_result | None:
    try:
        return path.stat() if path else None
    except FileNotFoundError:
        return None


def _seed_triage_model(var: Path) -> None:
    """A copy of the trained model where the daemon looks for it (gateway/processing/context.py),
    unless the home has one of its own."""
    from gateway.processing.triage_model import corpus_files, load_model, model_key

    if any(var.glob("triage-*.npz")):
        return
    trained = TRIAGE_MODELS / f"triage-{model_key(corpus_files())}.npz"
    if not trained.exists():
        load_model(TRIAGE_MODELS)  # written beside and renamed, so workers racing here are safe
    var.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained, var / trained.name)


class Gateway:
    """gatewayd as a child process, with its own config and database in a temp dir."""

    def __init__(
        self, home: Path, sink: Sink, extra_config: str = "", storage_url: str | None = None
    ) -> None:
        self.home = home
        self.port = free_port()
        self.config = home / "config.toml"
        text = config_text(self.port, f"127.0.0.1:{sink.port}", extra_config)
        if storage_url:
            text = text.replace('url = "sqlite:///gateway.db"', f'url = "{storage_url}"')
        self.config.write_text(text)
        self.log = home / "gatewayd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.environment: dict[str, str] = {}  # added to the daemon's, e.g. NOTIFY_SOCKET
        self.seed_triage_model = True  # False: the daemon trains its own, as a new install does
        self._sqlite = home / "gateway.db" if 'url = "sqlite:///gateway.db"' in text else None

    def start(self) -> None:
        self.launch()
        wait_for(self.accepting, 20, "gatewayd to listen")

    def launch(self) -> None:
        """Start the process and return at once, before it listens."""
        if self.seed_triage_model:
            _seed_triage_model(self.home / "var")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "gatewayd.py", "run", "--config", str(self.config)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own: see kill()
                env={**os.environ, **self.environment},
            )

    def accepting(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"gatewayd exited {self.process.returncode}:\n{self.log_text()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def stop(self) -> int:
        if not self.process or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)

    def kill(self) -> None:
        """kill -9 of the daemon and its worker process at once, as a crash of the host or
        systemd killing the service's control group would: nothing of it finishes a batch."""
        assert self.process is not None
        # Once killpg returns, no process of the group runs another instruction of its own.
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def cli(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "gatewayd.py", *args, "--config", str(self.config)],
            cwd=REPO,
            input=input.decode() if input else None,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def tickets(self) -> list[dict[str, Any]]:
        return list(self.json("tickets", "list"))

    def ticket(self, number: int) -> dict[str, Any]:
        return dict(self.json("tickets", "show", str(number)))

    def wait_for_tickets(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return wait_for(
            self._on_change(lambda: len(t := self.tickets()) >= count and t),
            timeout,
            f"{count} ticket(s)",
        )

    def wait_for_ticket(
        self, number: int, holds: Callable[[dict[str, Any]], bool], what: str, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Ticket `number` once `holds(ticket)` is true."""

        def ready() -> dict[str, Any] | None:
            ticket = self.ticket(number) if self.tickets() else None
            return ticket if ticket and holds(ticket) else None

        return dict(wait_for(self._on_change(ready), timeout, what))

    def _on_change(self, condition: Callable[[], Any]) -> Callable[[], Any]:
        """`condition`, asked again only once the SQLite database changed (or a second went by).

        Each ask is a `gatewayd` command: most of a CPU's second for Python and the imports.
        Asked in a loop, it took the CPU from the daemon that the test waits for, on a machine
        running two test modules at once. Every change the commands could show is a commit,
        which changes the size or the time of the database or its write-ahead log."""
        if self._sqlite is None:
            return condition
        last: list[Any] = [None, 0.0]

        def asked_on_change() -> Any:
            files = (self._sqlite, self._sqlite.with_name("gateway.db-wal"))
            seen = [(s.st_mtime_ns, s.st_size) for f in files if (s := _stat(f))]
            if seen == last[0] and time.monotonic() - last[1] < 1.0:
                return None
            last[:] = [seen, time.monotonic()]
            return condition()

        return asked_on_change

    def send(
        self,
        message: EmailMessage | bytes,
        sender: str | None = None,
        recipients: list[str] | None = None,
    ) -> dict[str, Any]:
        data = message if isinstance(message, bytes) else message.as_bytes()
        if sender is None:
            sender = str(message["From"]) if isinstance(message, EmailMessage) else ""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
            return smtp.sendmail(sender, recipients or [PARTNER], data)


def two_daemons(tmp_path: Path, sink: Sink, database: str) -> list[Gateway]:
    """Two daemons started on one database, each with its own home and SMTP port."""
    daemons = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        daemons.append(Gateway(tmp_path / name, sink, storage_url=database))
    for daemon in daemons:
        daemon.start()
    return daemons


def mail(
    sender: str = "anna@fabrikam.example",
    subject: str = "Outlook cannot send mail",
    body: str = "Hello,\n\nSince this morning Outlook cannot send mail.\n\nAnna",
    **headers: str,
) -> EmailMessage:
    message = EmailMessage(policy=email.policy.SMTP)  # CRLF line ends, as on the wire
    message["From"] = sender
    message["To"] = PARTNER
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(email.utils.localtime())
    message["Message-ID"] = email.utils.make_msgid(domain=sender.partition("@")[2])
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


@pytest.fixture
def sink() -> Iterator[Sink]:
    relay = Sink()
    relay.start()
    yield relay
    relay.stop()
    # Partner-only sending: whatever a test did, every mail out is from the partner address.
    for received in relay.received:
        assert received.mail_from == PARTNER
        assert received.message["From"].addresses[0].addr_spec == PARTNER


@pytest.fixture
def gateway(tmp_path: Path, sink: Sink) -> Iterator[Gateway]:
    daemon = Gateway(tmp_path, sink)
    daemon.start()
    yield daemon
    code = daemon.stop()
    assert code == 0, f"gatewayd did not stop cleanly ({code}):\n{daemon.log_text()}"
    assert "Traceback" not in daemon.log_text(), daemon.log_text()


@pytest.fixture
def dovecot_home() -> Iterator[Path]:
    # Dovecot's auth and mail processes run as other users: pytest's tmp_path (0700) is closed
    # to them.
    home = Path(tempfile.mkdtemp(prefix="gatewayd-dovecot-"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_home: Path) -> Iterator[Dovecot]:
    """A real Dovecot with the support mailbox and a second one."""
    server = Dovecot(
        dovecot_home / "password", {IMAP_SUPPORT: IMAP_PASSWORD, IMAP_OTHER: "other-secret"}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_cluster() -> Iterator[postgres.Postgres]:
    """A real PostgreSQL cluster of its own (initdb, pg_ctl), which a test may stop and start."""
    if not postgres.available():
        pytest.skip("postgresql is installed by make test")
    cluster = postgres.Postgres()
    cluster.start()
    yield cluster
    cluster.remove()


@pytest.fixture
def database(pg_cluster: postgres.Postgres) -> str:
    """The storage.url of a fresh database on `pg_cluster`."""
    return pg_cluster.create_database("gatewayd")


os.environ.setdefault("PYTHONUNBUFFERED", "1")
