"""Import benchmark: `gatewayd import` of an mbox against the IMAP backlog, in one run.

The same customer mails (bench/workload.py) are written to an mbox file (not measured), then
`gatewayd.py import PATH --format mbox --json` runs on a fresh database whose tables were made
beforehand, and the clock runs from its start to its exit, when every message is a ticket. In
the same run, bench/imap_backlog.py's measurement (a real Dovecot, the real daemon) gives the
rate the import is compared with. The goal: the import at no less than half the IMAP backlog's
rate (issue 19). `--twice` imports the file again and checks that it adds nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate
from pathlib import Path

from imap_backlog import measure
from workload import REPO, Daemon, Storage, build_messages

GOAL = 0.5


def write_mbox(path: Path, messages: list[bytes]) -> None:
    """As mutt and Python's mailbox.mbox write one: a "From " line before each message, a
    body line beginning "From " quoted as ">From ", a blank line after each."""
    stamp = formatdate(usegmt=True)
    with path.open("wb") as mbox:
        for message in messages:
            body = message.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From ")
            mbox.write(f"From bench@fabrikam.example {stamp}\n".encode() + body + b"\n")


def run_import(daemon: Daemon, mbox: Path, *flags: str) -> tuple[float, dict[str, int]]:
    command = [sys.executable, "gatewayd.py", "import", str(mbox), "--format", "mbox", "--json",
               "--config", str(daemon.config), *flags]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"gatewayd import exited {result.returncode}:\n{result.stderr[-3000:]}")
    return seconds, json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="to import (100000)")
    parser.add_argument("--imap-messages", type=int, default=3000, help="IMAP backlog (3000)")
    parser.add_argument("--no-mail", action="store_true", help="import in archive mode")
    parser.add_argument("--twice", action="store_true", help="import again: adds nothing")
    args = parser.parse_args()
    print(f"import N={args.messages}, IMAP backlog N={args.imap_messages}, "
          f"python {sys.version.split()[0]}, sqlite")  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="gatewayd-bench-") as tmp,
        Storage("sqlite", Path(tmp)) as storage,
    ):
        work = Path(tmp)
        imap, imap_ok = measure(
            storage, build_messages(args.imap_messages), 1, work / "imap", timeout=600
        )
        t = imap.timeline
        imap_seconds = max(t.tickets or 0.0, t.inbox_empty or 0.0) if t.complete() else None
        messages = build_messages(args.messages)
        mbox = work / "support.mbox"
        write_mbox(mbox, messages)
        print(f"-- import of {mbox.stat().st_size / 1e6:.0f} MB mbox on a fresh database")
        daemon = Daemon(work / "import", storage.database(), "")
        daemon.make_schema()
        flags = ("--no-mail",) if args.no_mail else ()
        seconds, summary = run_import(daemon, mbox, *flags)
        tickets = daemon.database.count("tickets")
        import_rate = args.messages / seconds
        print(f"import: {import_rate:8.1f} msg/s ({seconds:.1f} s); {json.dumps(summary)}")
        print(f"all {args.messages} tickets exist: {'yes' if tickets == args.messages else 'no'}"
              f" ({tickets})")  # fmt: skip
        ok = imap_ok and tickets == args.messages
        if args.twice:
            again, second = run_import(daemon, mbox, *flags)
            adds = daemon.database.count("tickets") - tickets
            print(f"second import: {again:.1f} s, stored {second['stored']}, tickets added {adds}")
            ok = ok and second["stored"] == 0 and adds == 0
        if imap_seconds:
            imap_rate = args.imap_messages / imap_seconds
            ratio = import_rate / imap_rate
            print(f"IMAP backlog: {imap_rate:8.1f} msg/s; import / IMAP backlog = {ratio:.2f} "
                  f"(goal ≥ {GOAL})")  # fmt: skip
            ok = ok and ratio >= GOAL
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
