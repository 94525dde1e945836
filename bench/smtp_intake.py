"""SMTP intake benchmark: gatewayd's durable intake against a bare aiosmtpd server.

Measured, for the same N customer mails sent over K parallel persistent SMTP sessions:

* bare aiosmtpd: a server whose DATA handler only answers "250 OK". This is the ceiling that
  aiosmtpd, smtplib and this machine allow; the gateway cannot be faster than it.
* gatewayd durable intake: the real daemon (`gatewayd.py run`) on a fresh database, SQLite
  (synchronous=FULL) or PostgreSQL (a throwaway cluster with fsync on; `--storage`). Its 250
  comes only after the message is committed (group commit), so the time until the last 250 is
  the time until all N messages are durable.
* end to end: the time from the first send until all N tickets exist (parse, identify, route,
  ticket, acknowledgement), counted with a query of our own on the daemon's database.

Both servers run in one run, on the same machine, with the same messages and client code, so
their ratio says what durability and the gateway cost, whatever the machine's speed or load.
`--storage both` measures the bare server once and then gatewayd on each storage.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import smtplib
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workload import (
    CUSTOMER_DOMAIN,
    STORAGES,
    SUPPORT,
    Daemon,
    Database,
    Storage,
    build_messages,
)

from tests.e2e.ports import free_port

CLIENT_NAME = "bench.localhost"  # smtplib would otherwise ask DNS for our FQDN
SMTP_CONFIG = """
[smtp]
listen = "127.0.0.1:{port}"
max_size = "25MB"
"""


def wait_for_port(port: int, alive: Any, timeout: float = 30.0) -> None:
    """Wait until 127.0.0.1:port accepts connections; `alive()` false means the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"server for port {port} exited before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not open after {timeout:.0f}s")


def serve_bare(port: int, loop: str) -> None:
    """The bare server (run in a child process): aiosmtpd whose DATA hook only says 250, on
    asyncio's own event loop or on uvloop (which gatewayd runs on)."""
    import asyncio

    import uvloop
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        factory = functools.partial(SMTP, Handler(), hostname="bare", enable_SMTPUTF8=True)
        await loop.create_server(factory, host="127.0.0.1", port=port)
        await asyncio.Event().wait()  # until SIGTERM

    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())


def send_all(port: int, messages: list[bytes], sessions: int) -> tuple[float, float, int]:
    """Send over `sessions` persistent connections; (start, time of last 250, not accepted)."""
    barrier = threading.Barrier(sessions + 1, timeout=60)
    finished: list[float] = []
    accepted: list[int] = []
    errors: list[str] = []

    def client(share: list[bytes]) -> None:
        with smtplib.SMTP("127.0.0.1", port, local_hostname=CLIENT_NAME, timeout=120) as smtp:
            smtp.ehlo()
            barrier.wait()
            for data in share:
                try:
                    smtp.sendmail(f"sender@{CUSTOMER_DOMAIN}", [SUPPORT], data)
                    accepted.append(1)
                except smtplib.SMTPException as exc:
                    errors.append(repr(exc))
            finished.append(time.perf_counter())

    threads = [threading.Thread(target=client, args=(messages[i::sessions],))
               for i in range(sessions)]  # fmt: skip
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    for error in errors[:5]:
        print(f"  not accepted: {error}")
    return start, max(finished, default=start), len(messages) - len(accepted)


def bench_bare(messages: list[bytes], sessions: int, loop: str) -> tuple[float, int]:
    """Seconds until the last 250 from the bare server, and how many were not accepted."""
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve_bare, args=(port, loop))
    server.start()
    try:
        wait_for_port(port, server.is_alive)
        start, end, failed = send_all(port, messages, sessions)
    finally:
        server.terminate()
        server.join(10)
    return end - start, failed


def wait_for_tickets(database: Database, wanted: int, timeout: float) -> tuple[float, int]:
    """Poll every 0.5 s; (perf_counter when all existed or the timeout hit, tickets found)."""
    deadline = time.monotonic() + timeout
    while (found := database.count("tickets")) < wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    return time.perf_counter(), found


@dataclass(frozen=True)
class GatewayResult:
    intake: float  # seconds from the first send until the last 250
    e2e: float  # seconds from the first send until all tickets existed (or the timeout)
    failed: int  # messages not accepted with 250
    tickets: int  # tickets found at the end
    exit_code: int  # of the daemon after SIGTERM


def bench_gatewayd(
    messages: list[bytes], sessions: int, daemon: Daemon, port: int, timeout: float
) -> GatewayResult:
    daemon.make_schema()
    daemon.start()
    try:
        wait_for_port(port, lambda: not daemon.exited())
        start, end, failed = send_all(port, messages, sessions)
        # a message refused with 4xx makes no ticket: wait only for those that got their 250
        done, found = wait_for_tickets(daemon.database, len(messages) - failed, timeout)
    finally:
        code = daemon.stop()
    return GatewayResult(end - start, done - start, failed, found, code)


def show_log(path: Path, lines: int = 15) -> None:
    text = path.read_text(errors="replace").splitlines()
    problems = [line for line in text if " WARNING " in line or " ERROR " in line]
    print(f"daemon log: {len(text)} lines, {len(problems)} warnings/errors")
    for line in (problems or text)[-lines:]:
        print(f"  {line[:200]}")


def report(storage: str, n: int, bare: float, gw: GatewayResult) -> bool:
    """Print gatewayd's figures on one storage; True if every message got its 250 and every
    ticket exists."""
    print(f"gatewayd durable intake, {storage:10} {n / gw.intake:8.1f} msg/s  "
          f"({gw.intake:.2f} s, {gw.failed} failed)")  # fmt: skip
    print(f"ratio gatewayd/bare,     {storage:10} {bare / gw.intake:8.3f}")
    print(f"end to end (tickets),    {storage:10} {gw.tickets / gw.e2e:8.1f} tickets/s  "
          f"({gw.e2e:.2f} s from first send, {gw.tickets} tickets)")  # fmt: skip
    print(f"  all {n} tickets exist: {'yes' if gw.tickets == n else 'no'}; "
          f"daemon exit code after SIGTERM: {gw.exit_code}")  # fmt: skip
    return gw.tickets == n and gw.failed == 0 and gw.exit_code == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="N mails (default 2000)")
    parser.add_argument("--sessions", type=int, default=20, help="K sessions (default 20)")
    parser.add_argument("--timeout", type=float, default=300, help="wait for tickets (s)")
    parser.add_argument(
        "--storage",
        choices=[*STORAGES, "both"],
        default="sqlite",
        help="gatewayd's database (default sqlite); both: one after the other, same bare run",
    )
    parser.add_argument(
        "--bare-loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="the bare server's event loop (default asyncio, aiosmtpd as it comes; gatewayd "
        "runs on uvloop)",
    )
    args = parser.parse_args()
    n, k = args.messages, args.sessions
    print(f"N={n} messages, K={k} sessions, python {sys.version.split()[0]}")
    messages = build_messages(n)
    bare, bare_failed = bench_bare(messages, k, args.bare_loop)
    print(f"bare aiosmtpd ({args.bare_loop + '):':9}          {n / bare:8.1f} msg/s  "
          f"({bare:.2f} s, {bare_failed} failed)")  # fmt: skip
    ok = bare_failed == 0
    kinds = STORAGES if args.storage == "both" else (args.storage,)
    with tempfile.TemporaryDirectory(prefix="gatewayd-bench-") as tmp:
        for kind in kinds:
            with Storage(kind, Path(tmp)) as storage:
                port = free_port()
                database = storage.database()
                print(f"gatewayd on {database.version()}, fresh database")
                daemon = Daemon(Path(tmp) / kind, database, SMTP_CONFIG.format(port=port))
                gw = bench_gatewayd(messages, k, daemon, port, args.timeout)
                if not report(kind, n, bare, gw):
                    ok = False
                    show_log(daemon.log)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
