"""The parser stage: in a flood, a process beside the worker's processor reads and parses the
next stored messages while the processor writes the batch before them.

Why a process: parsing is about a third of a new ticket's CPU, and the processor holds the write
lock (on SQLite) and the GIL for its whole batch; here parsing runs on another core.

What it hands over is a hint (`Parsed`): the ids of the processor's next batch, in order, and
what the parser made of each. The processor still takes each message in its own transaction,
checks its state and parses itself whatever the stage did not parse (a message over
`max_bytes`, which must not sit in two processes' memory; a parser bug, which it then meets and
quarantines itself; a stage that died or hangs). So the stage can be stopped, killed or late at
any time, and nothing is lost, repeated or processed out of order.

Only in a flood: the worker starts the stage when a batch comes back full and stops it after a
minute without one, so that a quiet gateway has no extra process (nor its memory).

Where the policy has rules on intents, the stage also classifies the batch (routing/triage.py,
with the model the worker keeps under var/): triage costs the processor a fifth of a new ticket's
CPU, which here too runs on the other core.
"""

from __future__ import annotations

import logging
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from gateway.logs import log_event
from gateway.runtime import services
from gateway.runtime.processes import OnDemand, Spawned
from gateway.store import raw_reader
from parsers.message import ParsedMessage, Unparseable, parse_message
from routing.intents import Triage

log = logging.getLogger("gateway.runtime.parse_ahead")

# Messages up to this size are parsed ahead: mail as people write it. The same bound as intake's
# identity on the event loop (gateway/intake/smtp.py); the largest a batch can hand over is
# PROCESS_BATCH (gateway/runtime/worker.py) times it.
MAX_BYTES = 256 * 1024
# The longest the processor waits for a batch being parsed: far more than a batch takes; a
# stage that takes longer is stopped, and the processor parses the batch itself.
WAIT_SECONDS = 30.0
_READY = "ready"
# A stage that failed is not started again for this long: one that dies on some input would
# otherwise cost a new interpreter's start on every batch.
RESTART_AFTER_SECONDS = 60.0
STOP_SECONDS = 5.0  # how long a stage asked to end may take before it is killed


@dataclass(frozen=True)
class Parsed:
    """The processor's next batch: its message ids in order, and for those parsed ahead the
    ParsedMessage, or the Unparseable the parser raised."""

    ids: tuple[int, ...]
    messages: dict[int, ParsedMessage | Unparseable] = field(default_factory=dict)
    triaged: dict[int, Triage] = field(default_factory=dict)  # the mails that may open tickets


class ParseAhead:
    """The worker's handle on the stage: one request in flight at a time."""

    def __init__(self, url: str, triage_cache: Path | None = None) -> None:
        self._url = url
        self._triage_cache = triage_cache  # where the triage model is kept; None: no triage
        self._stage = OnDemand(services.named("parse-ahead"), self._start, RESTART_AFTER_SECONDS)
        self._connection: Connection | None = None
        self._waiting = False  # a request was sent and its answer not yet taken
        self._ready = False  # the stage said it is up; until then the processor parses alone

    def running(self) -> bool:
        return self._stage.running()

    def wait_ready(self, timeout: float) -> bool:
        """Whether the stage is up, waiting for it up to `timeout` (the worker never waits)."""
        if not self._ready and self._connection is not None and self._connection.poll(timeout):
            self._ready = self._connection.recv() == _READY
        return self._ready

    @property
    def pid(self) -> int | None:
        child = self._stage.child
        return child.pid if child else None

    def request(self, limit: int, exclude: Sequence[int]) -> bool:
        """Start parsing the first `limit` new messages that are not in `exclude` (the batch the
        processor is writing now). Ignored while a request is out, and while the stage starts
        (its imports, in which the processor would otherwise wait). True if sent."""
        if self._waiting:
            return False
        try:
            if self._connection is None:
                self._stage.start()  # unless it failed a short while ago
                return False
            if not self._ready:
                if not self._connection.poll(0):
                    return False
                self._ready = self._connection.recv() == _READY
            self._connection.send((limit, tuple(exclude), MAX_BYTES))
        except Exception as exc:  # the processor parses by itself; the stage never stops it
            self._fail(f"{type(exc).__name__}: {exc}")
            return False
        self._waiting = True
        return True

    def take(self) -> Parsed | None:
        """The batch asked for by the last `request`, once parsed; None if none was asked for or
        the stage failed (the processor then parses by itself)."""
        if not self._waiting or self._connection is None:
            return None
        self._waiting = False
        try:
            if not self._connection.poll(WAIT_SECONDS):
                self._fail(f"no answer within {WAIT_SECONDS:.0f} s")
                return None
            answer = self._connection.recv()
        except EOFError:
            self._fail("the stage ended")
            return None
        except Exception as exc:  # the processor parses by itself; the stage never stops it
            self._fail(f"{type(exc).__name__}: {exc}")
            return None
        if isinstance(answer, Parsed):
            return answer
        self._fail(str(answer))  # its own failure, e.g. the database out of reach
        return None

    def discard(self) -> None:
        """Drop the batch in flight: the processor did not finish the one it excluded."""
        self.take()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()  # end of file: the stage ends by itself
        self._stage.stop(STOP_SECONDS)
        self._connection = None
        self._waiting = self._ready = False

    def _start(self) -> Spawned:
        """A plain child process: the worker is a daemonic multiprocessing process, which may
        have no multiprocessing children. Only the child holds its end of the socket pair, so
        the worker's death, even by kill -9, is its end of file."""
        ours, theirs = socket.socketpair()
        with theirs:
            command = [sys.executable, "-m", "gateway.runtime.parse_ahead", str(theirs.fileno())]
            process = subprocess.Popen(command, pass_fds=[theirs.fileno()])
        self._connection = Connection(ours.detach())
        cache = str(self._triage_cache) if self._triage_cache else ""
        self._connection.send((self._url, cache))  # not on the command line, which `ps` shows
        log_event(log, "parse_ahead.started", pid=process.pid)
        return Spawned(process)

    def _fail(self, reason: str) -> None:
        log_event(log, "parse_ahead.failed", level=logging.WARNING, reason=reason)
        self._stage.failed()
        self.stop()


# --- in the stage's process ---


def main(connection: Connection) -> None:
    """Answer requests until the worker closes its end or dies (end of file)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon stops the worker, which stops us
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        url, cache = connection.recv()
    except (EOFError, OSError):  # a reset, when the worker closed with our answer unread
        return
    database = raw_reader.open_database(url)
    triager = _triager(cache)
    try:
        connection.send(_READY)
        while True:
            try:
                limit, exclude, max_bytes = connection.recv()
            except (EOFError, OSError):  # a reset, when the worker closed with our answer unread
                return
            try:
                answer: Parsed | str = parse_next(database, limit, exclude, max_bytes, triager)
            except Exception as exc:  # the worker logs it and parses by itself
                answer = f"{type(exc).__name__}: {exc}"
            try:
                connection.send(answer)
            except OSError:  # the worker stopped us while we parsed
                return
    finally:
        database.close()


def _triager(cache: str) -> Any:
    """The worker's triage model, or None (no rules on intents, or it cannot be had: the
    processor then classifies by itself)."""
    if not cache:
        return None
    try:
        from gateway.processing.triage_model import Triager

        triager = Triager(Path(cache))
        triager.model  # noqa: B018  (loaded now, before the stage says it is ready)
        return triager
    except Exception as exc:
        log_event(log, "parse_ahead.no_triage", level=logging.WARNING, error=str(exc))
        return None


def parse_next(
    database: sqlite3.Connection,
    limit: int,
    exclude: Sequence[int],
    max_bytes: int,
    triager: Any = None,
) -> Parsed:
    """The first `limit` new messages not in `exclude`, parsed if not over `max_bytes`, and
    classified by `triager` if given."""
    rows = raw_reader.next_new(database, limit, exclude)
    small = [raw_id for raw_id, size in rows if size <= max_bytes]
    messages = {
        raw_id: _parsed(data, mail_from)
        for raw_id, mail_from, data in raw_reader.contents(database, small)
    }
    kept = {raw_id: message for raw_id, message in messages.items() if message is not None}
    triaged = _triaged(triager, kept) if triager else {}
    return Parsed(tuple(raw_id for raw_id, _ in rows), kept, triaged)


def _triaged(triager: Any, parsed: dict[int, ParsedMessage | Unparseable]) -> dict[int, Triage]:
    from gateway.processing.triage_model import mail_text

    wanted = {
        raw_id: message
        for raw_id, message in parsed.items()
        if isinstance(message, ParsedMessage) and message.kind == "normal"
    }
    results = triager.classify_many([mail_text(m) for m in wanted.values()], evidence=False)
    return dict(zip(wanted, results, strict=True))


def _parsed(data: bytes, mail_from: str | None) -> ParsedMessage | Unparseable | None:
    try:
        return parse_message(data, mail_from)
    except Unparseable as exc:
        return exc
    except Exception:  # a parser bug: the processor meets it too, and quarantines with the trace
        return None


if __name__ == "__main__":
    # Through the module's own name, so that what it sends is gateway.runtime.parse_ahead.Parsed,
    # not __main__.Parsed, which the worker could not unpickle.
    from gateway.runtime import parse_ahead

    parse_ahead.main(Connection(int(sys.argv[1])))
