"""IMAP backlog benchmark: how fast gatewayd empties a full mailbox into tickets.

A real Dovecot (tests/e2e/dovecot.py) gets N distinct customer mails in its INBOX before the
daemon starts, as after an outage or on the first start against a busy shared mailbox. Then
the real daemon (`gatewayd.py run`, fresh SQLite database, one [[imap]] mailbox with
done_folder = "Processed") is started, and from that moment we measure, polling every 0.2 s:

* stored: all N raw messages are committed (`raw_messages`): the IMAP intake itself.
* INBOX empty: Dovecot reports no message left in INBOX (all moved to Processed), seen over a
  separate IMAP connection.
* all tickets: all N tickets exist (`tickets`).

The headline figure is N / max(time to all tickets, time to INBOX empty): messages per second
until every message is a ticket and the folder is empty. The goal is at least 1000 msg/s.
Placing the backlog in Dovecot is timed and shown, but is not part of that figure.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient
from workload import (
    BASE_CONFIG,
    CUSTOMER_DOMAIN,
    PARTNER_DOMAIN,
    REPO,
    SUPPORT,
    build_messages,
    stop_daemon,
)

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # for tests.e2e.dovecot when run as bench/imap_backlog.py

from tests.e2e.dovecot import Dovecot  # noqa: E402

PASSWORD = "imap-bench-secret"
DONE_FOLDER = "Processed"
POLL_SECONDS = 0.2
APPEND_CHUNK = 500  # messages per MULTIAPPEND command
CONFIG = (
    BASE_CONFIG
    + """
[[imap]]
name = "support"
host = "127.0.0.1"
port = {imap_port}
tls = false
starttls = true
username = "{support}"
password = "{password}"
ca_file = "{ca_file}"
done_folder = "{done_folder}"
poll = "60s"
"""
)


def place_messages(dovecot: Dovecot, messages: list[bytes]) -> tuple[float, str]:
    """Put the backlog in INBOX over one connection; (seconds, how)."""
    start = time.perf_counter()
    client = dovecot.client(SUPPORT)
    try:
        if client.has_capability("MULTIAPPEND"):
            for first in range(0, len(messages), APPEND_CHUNK):
                client.multiappend("INBOX", messages[first : first + APPEND_CHUNK])
            how = f"MULTIAPPEND, {APPEND_CHUNK} per command"
        else:
            for message in messages:
                client.append("INBOX", message)
            how = "APPEND, one per message"
    finally:
        client.logout()
    return time.perf_counter() - start, how


def write_config(work: Path, dovecot: Dovecot) -> Path:
    config = work / "config.toml"
    config.write_text(
        CONFIG.format(
            support=SUPPORT,
            partner_domain=PARTNER_DOMAIN,
            customer_domain=CUSTOMER_DOMAIN,
            imap_port=dovecot.port,
            password=PASSWORD,
            ca_file=dovecot.cert,
            done_folder=DONE_FOLDER,
        )
    )
    return config


def count_rows(database: Path, table: str) -> int:
    try:
        # mode=rw: never create the file; closing(): `with connect()` alone does not close
        with closing(sqlite3.connect(f"file:{database}?mode=rw", uri=True, timeout=5)) as db:
            return int(db.execute(f"select count(*) from {table}").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created or migrated yet


def folder_messages(client: IMAPClient, folder: str) -> int:
    return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])


@dataclass
class Timeline:
    """Seconds from the daemon's start until each milestone; None if it was not reached."""

    first_stored: float | None = None
    stored: float | None = None
    inbox_empty: float | None = None
    tickets: float | None = None
    counts: dict[str, int] = field(default_factory=dict)  # at the end

    def complete(self) -> bool:
        return None not in (self.stored, self.inbox_empty, self.tickets)


def watch(
    database: Path,
    monitor: IMAPClient,
    n: int,
    exit_code: Callable[[], int | None],
    start: float,
    timeout: float,
) -> Timeline:
    """Poll every POLL_SECONDS until all three milestones are reached; times from `start`."""
    timeline = Timeline()
    while True:
        now = time.perf_counter() - start
        stored = count_rows(database, "raw_messages")
        inbox = folder_messages(monitor, "INBOX")
        tickets = count_rows(database, "tickets")
        timeline.counts = {"stored": stored, "inbox": inbox, "tickets": tickets}
        if stored and timeline.first_stored is None:
            timeline.first_stored = now
        if stored >= n and timeline.stored is None:
            timeline.stored = now
        if inbox == 0 and timeline.inbox_empty is None:
            timeline.inbox_empty = now
        if tickets >= n and timeline.tickets is None:
            timeline.tickets = now
        if timeline.complete() or now > timeout or exit_code() is not None:
            return timeline
        time.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class Result:
    timeline: Timeline
    processed_folder: int  # messages in done_folder at the end
    exit_code: int  # of the daemon after SIGTERM


def run_gateway(dovecot: Dovecot, work: Path, n: int, timeout: float) -> Result:
    config = write_config(work, dovecot)
    monitor = dovecot.client(SUPPORT)  # a connection of its own, never the daemon's
    log = (work / "daemon.log").open("wb")  # a file: an undrained pipe would block the daemon
    command = [sys.executable, "gatewayd.py", "run", "--config", str(config)]
    try:
        start = time.perf_counter()
        daemon = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            timeline = watch(work / "gateway.db", monitor, n, daemon.poll, start, timeout)
        finally:
            code = stop_daemon(daemon)
        processed = folder_messages(monitor, DONE_FOLDER)
    finally:
        log.close()
        monitor.logout()
    return Result(timeline, processed, code)


def rate(n: int, seconds: float | None) -> str:
    if seconds is None:
        return "   not reached"
    return f"{n / seconds:8.1f} msg/s  ({seconds:.2f} s)"


def report(n: int, result: Result) -> bool:
    """Print the figures; True if every ticket exists and every message was moved."""
    t = result.timeline
    overall = None if not t.complete() else max(t.tickets or 0.0, t.inbox_empty or 0.0)
    first = f"{t.first_stored:.2f} s" if t.first_stored is not None else "never"
    print(f"first message stored after: {first} (daemon start, login, first batch)")
    print(f"stored (IMAP intake):       {rate(n, t.stored)}")
    print(f"INBOX empty:                {rate(n, t.inbox_empty)}")
    print(f"all tickets:                {rate(n, t.tickets)}")
    print(f"tickets and INBOX empty:    {rate(n, overall)}   goal ≥ 1000 msg/s")
    tickets, stored, inbox = t.counts["tickets"], t.counts["stored"], t.counts["inbox"]
    print(f"all {n} tickets exist: {'yes' if tickets == n else 'no'} ({tickets} tickets, "
          f"{stored} raw messages, {inbox} left in INBOX)")  # fmt: skip
    moved = result.processed_folder
    print(f"{DONE_FOLDER} holds all {n}: {'yes' if moved == n else 'no'} ({moved} messages)")
    print(f"daemon exit code after SIGTERM: {result.exit_code}")
    return tickets == n and stored == n and inbox == 0 and moved == n


LOG_LINE = re.compile(r"^(\S+) (\w+) (\S+) (\S+)")


def read_log(path: Path) -> tuple[list[str], dict[str, list[str]], Counter[str]]:
    """(lines, timestamps per event in order of first appearance, lines per level)."""
    lines = path.read_text(errors="replace").splitlines()
    events: dict[str, list[str]] = {}
    levels: Counter[str] = Counter()
    for line in lines:
        if match := LOG_LINE.match(line):
            stamp, level, _, event = match.groups()
            events.setdefault(event, []).append(stamp)
            levels[level] += 1
    return lines, events, levels


def show_log(path: Path) -> None:
    """Where the daemon's time went, as far as its log (whole seconds) tells."""
    lines, events, levels = read_log(path)
    print(f"daemon log: {len(lines)} lines, "
          f"{levels['WARNING']} warnings, {levels['ERROR']} errors")  # fmt: skip
    for event, stamps in events.items():
        span = stamps[0][11:] + (f" .. {stamps[-1][11:]}" if len(stamps) > 1 else "")
        print(f"  {event:24} {len(stamps):6d}x  {span}")
    per_second = sorted(Counter(events.get("message.processed", [])).values())
    if per_second:
        middle = per_second[len(per_second) // 2]
        print(f"  message.processed per log second: min {per_second[0]}, median {middle}, "
              f"max {per_second[-1]} over {len(per_second)} s")  # fmt: skip
    notable = [line for line in lines
               if "imap.taken" in line or " WARNING " in line or " ERROR " in line]  # fmt: skip
    for line in notable[:30]:
        print(f"  {line[:160]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000, help="N mails (default 3000)")
    parser.add_argument("--timeout", type=float, default=600, help="wait for all (s)")
    args = parser.parse_args()
    n = args.messages
    print(f"N={n} messages, python {sys.version.split()[0]}, "
          f"storage sqlite {sqlite3.sqlite_version} (sqlite:///gateway.db, fresh)")  # fmt: skip
    messages = build_messages(n)
    # Dovecot's auth and mail processes run as other users: the home must be world-traversable.
    home = Path(tempfile.mkdtemp(prefix="gatewayd-bench-dovecot-"))
    home.chmod(0o755)
    work = Path(tempfile.mkdtemp(prefix="gatewayd-bench-"))
    dovecot = Dovecot(home / "dovecot", {SUPPORT: PASSWORD})
    try:
        dovecot.start()
        placed, how = place_messages(dovecot, messages)
        print(f"placed {n} messages in INBOX in {placed:.2f} s ({how}; not measured below)")
        result = run_gateway(dovecot, work, n, args.timeout)
        ok = report(n, result) and result.exit_code == 0
        show_log(work / "daemon.log")
    finally:
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
