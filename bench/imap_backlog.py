"""IMAP backlog benchmark: how fast gatewayd empties a full mailbox into tickets.

A real Dovecot (tests/e2e/dovecot.py) gets N distinct customer mails in its INBOX before the
daemon starts, as after an outage or on the first start against a busy shared mailbox. Then
the real daemon (`gatewayd.py run`, one [[imap]] mailbox with done_folder = "Processed", on a
fresh database whose tables were made beforehand: SQLite, or PostgreSQL in a throwaway cluster
with `--storage postgresql`) is started, and from that moment we measure, polling every 0.2 s
(every 0.02 s near the end):

* stored: all N raw messages are committed (`raw_messages`): the IMAP intake itself.
* INBOX empty: Dovecot reports no message left in INBOX (all moved to Processed), seen over a
  separate IMAP connection.
* all tickets: all N tickets exist (`tickets`).

The headline figure is N / max(time to all tickets, time to INBOX empty): messages per second
until every message is a ticket and the folder is empty. The goal is at least 1000 msg/s.
Placing the backlog in Dovecot is timed and shown, but is not part of that figure.

`--daemons N` (PostgreSQL only) measures one daemon and then N daemons on one database, each
time with a fresh database and a fresh Dovecot: one daemon at a time reads the mailbox (an
advisory lock), all of them process the stored messages (claimed with FOR UPDATE SKIP LOCKED).
It prints the tickets per second of both and their ratio.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient
from workload import STORAGES, SUPPORT, Daemon, Database, Storage, build_messages

from tests.e2e.dovecot import Dovecot

PASSWORD = "imap-bench-secret"
DONE_FOLDER = "Processed"
POLL_SECONDS = 0.2
# Near a milestone the watch polls ten times as often: at POLL_SECONDS alone a run that ended
# just after a poll was measured up to 0.2 s late (7 % of a 3 s run), and polling that often
# throughout would take CPU from the daemon it measures.
FINE_POLL_SECONDS = 0.02
NEAR = 0.9  # of the messages: from there on the watch polls finely
APPEND_CHUNK = 500  # messages per MULTIAPPEND command
IMAP_CONFIG = """
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


@contextmanager
def full_mailbox(messages: list[bytes]) -> Iterator[Dovecot]:
    """A fresh Dovecot with `messages` in the INBOX of SUPPORT; stopped and removed after."""
    # Dovecot's auth and mail processes run as other users: the home must be world-traversable.
    home = Path(tempfile.mkdtemp(prefix="gatewayd-bench-dovecot-"))
    home.chmod(0o755)
    dovecot = Dovecot(home / "dovecot", {SUPPORT: PASSWORD})
    try:
        dovecot.start()
        placed, how = place_messages(dovecot, messages)
        print(f"placed {len(messages)} messages in INBOX in {placed:.2f} s ({how}; not measured)")
        yield dovecot
    finally:
        dovecot.stop()
        shutil.rmtree(home, ignore_errors=True)


def imap_config(dovecot: Dovecot) -> str:
    return IMAP_CONFIG.format(
        support=SUPPORT,
        imap_port=dovecot.port,
        password=PASSWORD,
        ca_file=dovecot.cert,
        done_folder=DONE_FOLDER,
    )


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
    # (seconds, stored, tickets) at each poll: when processing starts, and how fast it goes
    samples: list[tuple[float, int, int]] = field(default_factory=list)

    def complete(self) -> bool:
        return None not in (self.stored, self.inbox_empty, self.tickets)


def watch(
    database: Database,
    monitor: IMAPClient,
    n: int,
    exited: Callable[[], bool],
    start: float,
    timeout: float,
) -> Timeline:
    """Poll every POLL_SECONDS (FINE_POLL_SECONDS near the end) until all three milestones are
    reached, the timeout passes or a daemon exits; times from `start`."""
    timeline = Timeline()
    while True:
        now = time.perf_counter() - start
        stored = database.count("raw_messages")
        inbox = folder_messages(monitor, "INBOX")
        tickets = database.count("tickets")
        timeline.counts = {"stored": stored, "inbox": inbox, "tickets": tickets}
        timeline.samples.append((now, stored, tickets))
        if stored and timeline.first_stored is None:
            timeline.first_stored = now
        if stored >= n and timeline.stored is None:
            timeline.stored = now
        if inbox == 0 and timeline.inbox_empty is None:
            timeline.inbox_empty = now
        if tickets >= n and timeline.tickets is None:
            timeline.tickets = now
        if timeline.complete() or now > timeout or exited():
            return timeline
        near = min(stored, n - inbox, tickets) >= NEAR * n
        time.sleep(FINE_POLL_SECONDS if near else POLL_SECONDS)


@dataclass(frozen=True)
class Result:
    timeline: Timeline
    processed_folder: int  # messages in done_folder at the end
    exit_codes: list[int]  # of the daemons after SIGTERM


def any_exited(daemons: list[Daemon]) -> bool:
    return any(daemon.exited() for daemon in daemons)


def run_gateway(dovecot: Dovecot, daemons: list[Daemon], n: int, timeout: float) -> Result:
    """Start the daemons together on the full mailbox and watch until all is done."""
    database = daemons[0].database
    daemons[0].make_schema()
    monitor = dovecot.client(SUPPORT)  # a connection of its own, never a daemon's
    try:
        start = time.perf_counter()
        try:
            for daemon in daemons:
                daemon.start()
            timeline = watch(database, monitor, n, lambda: any_exited(daemons), start, timeout)
        finally:
            codes = [daemon.stop() for daemon in daemons if daemon.process]
        processed = folder_messages(monitor, DONE_FOLDER)
    finally:
        monitor.logout()
    return Result(timeline, processed, codes)


def rate(n: int, seconds: float | None, unit: str = "msg/s") -> str:
    if seconds is None:
        return "   not reached"
    return f"{n / seconds:8.1f} {unit}  ({seconds:.2f} s)"


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
    print("progress (s: stored/tickets):", progress(t.samples))
    tickets, stored, inbox = t.counts["tickets"], t.counts["stored"], t.counts["inbox"]
    print(f"all {n} tickets exist: {'yes' if tickets == n else 'no'} ({tickets} tickets, "
          f"{stored} raw messages, {inbox} left in INBOX)")  # fmt: skip
    moved = result.processed_folder
    print(f"{DONE_FOLDER} holds all {n}: {'yes' if moved == n else 'no'} ({moved} messages)")
    codes = ", ".join(str(code) for code in result.exit_codes)
    print(f"daemon exit codes after SIGTERM: {codes}")
    clean = all(code == 0 for code in result.exit_codes)
    return tickets == n and stored == n and inbox == 0 and moved == n and clean


def progress(samples: list[tuple[float, int, int]], every: float = 0.5) -> str:
    shown, last = [], -every
    for seconds, stored, tickets in samples:
        if seconds - last >= every:
            shown.append(f"{seconds:.1f}: {stored}/{tickets}")
            last = seconds
    return ", ".join(shown)


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
    print(f"{path.parent.name} log: {len(lines)} lines, "
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


def measure(
    storage: Storage, messages: list[bytes], count: int, work: Path, timeout: float
) -> tuple[Result, bool]:
    """One measurement: `count` daemons on a fresh database and a fresh full mailbox; (the
    result, whether every message became a ticket and every daemon stopped cleanly)."""
    database = storage.database()
    print(f"-- {count} daemon{'s' if count > 1 else ''} on {database.version()}, fresh database")
    with full_mailbox(messages) as dovecot:
        extra = imap_config(dovecot)
        daemons = [Daemon(work / f"daemon{i + 1}", database, extra) for i in range(count)]
        result = run_gateway(dovecot, daemons, len(messages), timeout)
    ok = report(len(messages), result)
    for daemon in daemons:
        show_log(daemon.log)
    return result, ok


def compare(n: int, one: Result, several: Result, count: int) -> None:
    single, many = one.timeline.tickets, several.timeline.tickets
    print(f"all tickets, 1 daemon:      {rate(n, single, 'tickets/s')}")
    print(f"all tickets, {count} daemons:     {rate(n, many, 'tickets/s')}")
    if single and many:
        print(f"ratio {count} daemons / 1:      {single / many:8.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000, help="N mails (default 3000)")
    parser.add_argument("--timeout", type=float, default=600, help="wait for all (s)")
    parser.add_argument("--storage", choices=STORAGES, default="sqlite", help="default sqlite")
    parser.add_argument(
        "--daemons",
        type=int,
        default=1,
        help="with N > 1 (postgresql only): measure 1 daemon, then N on one database",
    )
    args = parser.parse_args()
    if args.daemons < 1 or (args.daemons > 1 and args.storage != "postgresql"):
        parser.error("--daemons N > 1 needs --storage postgresql (one daemon per SQLite file)")
    n = args.messages
    print(f"N={n} messages, python {sys.version.split()[0]}, storage {args.storage}")
    messages = build_messages(n)
    counts = [1] if args.daemons == 1 else [1, args.daemons]
    results, ok = [], True
    with (
        tempfile.TemporaryDirectory(prefix="gatewayd-bench-") as tmp,
        Storage(args.storage, Path(tmp)) as storage,
    ):
        for count in counts:
            work = Path(tmp) / f"{count}-daemons"
            result, complete = measure(storage, messages, count, work, args.timeout)
            results.append(result)
            ok = ok and complete
    if len(results) > 1:
        compare(n, results[0], results[1], args.daemons)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
