"""What the benchmarks send and how they run gatewayd: the same customer mails, the same
base config and the same fresh databases (SQLite or a throwaway PostgreSQL cluster) for every
benchmark, so their figures compare.

With GATEWAYD_BENCH_TRIAGE=1 in the environment each daemon gets the shipped config.toml's rules
(on intents: every mail is classified) and a warm triage model in its var/, as a daemon has on
every start but its first; without it the base config has no rules and no mail is classified."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from pathlib import Path
from types import TracebackType
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # for tests.e2e when run as bench/<name>.py

from tests.e2e.postgres import Postgres  # noqa: E402

STORAGES = ("sqlite", "postgresql")
CUSTOMER_DOMAIN = "fabrikam.example"
PARTNER_DOMAIN = "contoso.example"
SUPPORT = f"support@{PARTNER_DOMAIN}"
SUBJECTS = (
    "Outlook keeps asking for my password",
    "Teams meeting recordings are missing",
    "Cannot open shared mailbox on phone",
    "OneDrive sync stuck at 'processing changes'",
    "New employee needs a mailbox by Monday",
    "SharePoint site shows access denied",
    "MFA prompt never arrives on my phone",
    "Printer scans no longer arrive by mail",
)
BODY = """\
Hello support,

Since this morning I have a problem: {problem}.
I restarted my laptop twice, but it did not help. Colleagues see it too.
Could you please have a look? I am reachable until 17:00.

Kind regards,
{user}
Fabrikam BV
"""
BASE_CONFIG = f"""\
[partner]
name = "Contoso Cloud"
address = "{SUPPORT}"
domains = ["{PARTNER_DOMAIN}"]
ticket_tag = "CONTOSO"
secret = "bench-secret-that-is-long-enough"

[support]
hours = "Mon-Fri 08:00-18:00"
timezone = "Europe/Amsterdam"
contact = "{SUPPORT}, +31 20 555 0100"
first_response = "4h"
acks_per_hour = 5

[outbound]
relay = "maildir:outgoing"

[[customers]]
id = "fabrikam"
name = "Fabrikam BV"
domains = ["{CUSTOMER_DOMAIN}"]
tenant = "fabrikam.onmicrosoft.com"
billing = "direct"
language = "nl"

[[agents]]
address = "jan@{PARTNER_DOMAIN}"
name = "Jan de Vries"
roles = ["helpdesk-agent"]
customers = ["*"]
queues = ["helpdesk"]
"""


TRIAGE = os.environ.get("GATEWAYD_BENCH_TRIAGE") == "1"
_SHIPPED = (REPO / "config.toml").read_text()
TRIAGE_RULES = _SHIPPED[_SHIPPED.index("[[rules]]") :]


def build_messages(count: int) -> list[bytes]:
    """Distinct customer mails (CRLF line ends), each from its own sender so that the
    acknowledgement rate limit per sender never holds anything back."""
    messages = []
    for i in range(count):
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = f"User {i:05d} <user{i:05d}@{CUSTOMER_DOMAIN}>"
        msg["To"] = SUPPORT
        subject = SUBJECTS[i % len(SUBJECTS)]
        msg["Subject"] = f"{subject} (case {i})"
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(f"bench{i}", domain=CUSTOMER_DOMAIN)
        msg.set_content(BODY.format(problem=subject.lower(), user=f"User {i:05d}"))
        messages.append(msg.as_bytes())
    return messages


class Database:
    """One fresh database for one measurement: the URL its daemons get, and row counts read
    over a connection of the benchmark's own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url)

    def count(self, table: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(f"select count(*) from {table}")).scalar_one())

    def version(self) -> str:
        """What the daemons store in, e.g. `sqlite 3.40.1` or `postgresql 15.8`."""
        if self.engine.dialect.name == "sqlite":
            return f"sqlite {sqlite3.sqlite_version}"
        with self.engine.connect() as connection:
            return f"postgresql {connection.execute(text('show server_version')).scalar_one()}"

    def close(self) -> None:
        self.engine.dispose()


class Storage:
    """Fresh databases of one kind, one per measurement: SQLite files in `work`, or databases
    in a throwaway PostgreSQL cluster (tests/e2e/postgres.py) started for the run and removed
    after it. Use as a context manager."""

    def __init__(self, kind: str, work: Path) -> None:
        if kind not in STORAGES:
            raise ValueError(f"storage must be one of {STORAGES}, got {kind!r}")
        self.work = work
        self.cluster = Postgres() if kind == "postgresql" else None
        self.databases: list[Database] = []

    def __enter__(self) -> Storage:
        if self.cluster:
            self.cluster.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for database in self.databases:
            database.close()
        if self.cluster:
            self.cluster.remove()

    def database(self) -> Database:
        name = f"bench{len(self.databases) + 1}"
        if self.cluster:
            url = self.cluster.create_database(name)
        else:
            url = f"sqlite:///{self.work / name}.db"
        self.databases.append(Database(url))
        return self.databases[-1]


class Daemon:
    """One `gatewayd.py run` in a home folder of its own: config.toml (the base config, the
    database and `extra_config`), daemon.log and the outgoing maildir."""

    def __init__(self, home: Path, database: Database, extra_config: str) -> None:
        home.mkdir(parents=True)
        self.home = home
        self.database = database
        self.log = home / "daemon.log"
        self.config = home / "config.toml"
        base, rules = BASE_CONFIG, ""
        if TRIAGE:  # the shipped rules send subscriptions to a sales queue
            base, rules = (
                base.replace('queues = ["helpdesk"]', 'queues = ["helpdesk", "sales"]'),
                TRIAGE_RULES,
            )
        self.config.write_text(
            f'{base}\n[storage]\nurl = "{database.url}"\n{extra_config}\n{rules}'
        )
        if TRIAGE:
            from gateway.processing.triage_model import load_model

            load_model(home / "var")  # trained or copied once per run, before the clock
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def make_schema(self) -> None:
        """Create the database's tables (`tickets list` migrates) before the clock starts, as on
        every start but the first. Two daemons started at once on an empty PostgreSQL database
        race in the migration and one exits (UniqueViolation on pg_type)."""
        command = [sys.executable, "gatewayd.py", "--config", str(self.config), "tickets", "list"]
        subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._log_file = self.log.open("wb")  # a file: an undrained pipe would block the daemon
        command = [sys.executable, "gatewayd.py", "run", "--config", str(self.config)]
        self.process = subprocess.Popen(
            command, cwd=REPO, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> int:
        """SIGTERM, then the exit code (killed after 30 s)."""
        assert self.process and self._log_file
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            print(f"  daemon in {self.home.name} did not stop within 30 s of SIGTERM; killed")
            self.process.kill()
            code = self.process.wait()
        self._log_file.close()
        return code
