"""gateway/runtime/parse_ahead.py: the parser stage reads and parses the next batch in a process of
its own; whatever it does not do, or cannot, the processor does itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import event, select, update

from gateway.config import Config
from gateway.delivery.templates import Templates
from gateway.processing.context import Context
from gateway.processing.processor import process_pending
from gateway.runtime import parse_ahead
from gateway.runtime.parse_ahead import ParseAhead, Parsed, parse_next
from gateway.store.engine import Store
from gateway.store.models import RawMessage, Ticket
from gateway.store.raw_messages import IncomingRaw
from gateway.store.raw_reader import open_database
from parsers.message import ParsedMessage, Unparseable

REPO = Path(__file__).resolve().parents[2]


def mail(n: int, body: bytes = b"Please help.\r\n") -> bytes:
    return (
        b"From: Anna <anna@fabrikam.example>\r\nTo: support@contoso.example\r\n"
        + f"Subject: Request {n}\r\nMessage-ID: <a{n}@fabrikam.example>\r\n\r\n".encode()
        + body
    )


NO_SENDER = b"To: support@contoso.example\r\nSubject: Who am I\r\n\r\nHello\r\n"
EMPTY = b" \r\n"


def store_mail(store: Store, *messages: bytes) -> list[int | None]:
    return store.insert_raw([IncomingRaw(data=data, via="smtp") for data in messages])


def test_the_next_new_messages_in_order_but_the_batch_in_work(store: Store) -> None:
    store_mail(store, *(mail(n) for n in range(1, 7)))
    with store.session() as session:  # message 2 is done already
        session.execute(update(RawMessage).where(RawMessage.id == 2).values(state="done"))

    parsed = parse_next(open_database(store.url), limit=3, exclude=[1, 3], max_bytes=10_000)

    assert parsed.ids == (4, 5, 6)
    subjects = {raw_id: m.subject for raw_id, m in parsed.messages.items()}
    assert subjects == {4: "Request 4", 5: "Request 5", 6: "Request 6"}


def test_large_unreadable_and_failing_messages_are_left_to_the_processor(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    large = mail(2, b"x" * 30_000 + b"\r\n")
    store_mail(store, mail(1), large, EMPTY, mail(4))
    real_parse = parse_ahead.parse_message

    def parser_bug_on_4(data: bytes, envelope_sender: str | None = None) -> ParsedMessage:
        if b"Request 4" in data:
            raise KeyError("a parser bug")
        return real_parse(data, envelope_sender)

    monkeypatch.setattr(parse_ahead, "parse_message", parser_bug_on_4)

    parsed = parse_next(open_database(store.url), limit=10, exclude=[], max_bytes=20_000)

    assert parsed.ids == (1, 2, 3, 4)
    assert isinstance(parsed.messages[1], ParsedMessage)
    assert 2 not in parsed.messages  # over max_bytes: never in two processes' memory
    assert isinstance(parsed.messages[3], Unparseable)
    assert str(parsed.messages[3]) == "empty message"
    assert 4 not in parsed.messages  # the processor meets the bug and quarantines the mail


def request_when_ready(ahead: ParseAhead, exclude: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ahead.request(10, exclude):
        assert time.monotonic() < deadline, "the stage did not start"
        time.sleep(0.05)


def test_the_stage_process_parses_what_it_is_asked_for(store: Store) -> None:
    store_mail(store, mail(1), mail(2), mail(3))
    ahead = ParseAhead(store.url)
    try:
        assert ahead.take() is None  # nothing asked for yet
        request_when_ready(ahead, exclude=[1])
        parsed = ahead.take()
    finally:
        ahead.stop()
    assert isinstance(parsed, Parsed)
    assert parsed.ids == (2, 3)
    assert {m.subject for m in parsed.messages.values()} == {"Request 2", "Request 3"}
    assert not ahead.running()


def test_a_stage_that_dies_is_logged_and_started_again_a_while_later(
    store: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_mail(store, mail(1))
    monkeypatch.setattr(parse_ahead, "RESTART_AFTER_SECONDS", 1.0)
    ahead = ParseAhead(store.url)
    try:
        request_when_ready(ahead, exclude=[])
        assert ahead.take() is not None
        first = ahead.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        time.sleep(0.2)
        ahead.request(10, [])
        assert ahead.take() is None  # the processor parses by itself
        assert "parse_ahead.failed" in caplog.text
        assert not ahead.running()
        assert not ahead.request(10, [])
        assert not ahead.running()  # not at once: one that dies on some input would loop
        time.sleep(1.0)
        request_when_ready(ahead, exclude=[])
        assert ahead.pid not in (None, first)
        assert ahead.take() is not None
    finally:
        ahead.stop()


def test_the_stage_ends_when_its_worker_is_killed(store: Store, tmp_path: Path) -> None:
    """Its end of file: a killed worker leaves no parser behind."""
    script = tmp_path / "worker.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "from gateway.runtime.parse_ahead import ParseAhead\n"
        "ahead = ParseAhead(sys.argv[1])\n"
        "while not ahead.request(10, []):\n"
        "    time.sleep(0.05)\n"
        "print(ahead.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    worker = subprocess.run(
        [sys.executable, str(script), store.url],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == -signal.SIGKILL
    stage = int(worker.stdout)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{stage}").exists() and not _zombie(stage):
        assert time.monotonic() < deadline, "the stage outlived its worker"
        time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_the_processor_uses_what_was_parsed_ahead(store: Store, config: Config) -> None:
    store_mail(store, mail(1), mail(2), mail(3))
    hint = parse_next(open_database(store.url), limit=10, exclude=[], max_bytes=10_000)
    first = hint.messages[1]
    assert isinstance(first, ParsedMessage)
    hint.messages[1] = ParsedMessage(**{**first.__dict__, "subject": "Parsed ahead"})
    hint.messages[2] = Unparseable("unreadable, said the stage")
    with store.session() as session:  # taken meanwhile by someone else: left alone
        session.execute(update(RawMessage).where(RawMessage.id == 3).values(state="done"))

    context = Context(config, Templates())
    assert process_pending(store, context, 50, hint) == 2

    with store.session() as session:
        subjects = list(session.scalars(select(Ticket.subject)))
        states = dict(session.execute(select(RawMessage.id, RawMessage.error)).all())
    assert subjects == ["Parsed ahead"]
    assert states[2] == "unreadable, said the stage"


def test_what_was_parsed_ahead_is_loaded_in_one_statement(store: Store, config: Config) -> None:
    store_mail(store, mail(1), mail(2), mail(3), mail(4))
    hint = parse_next(open_database(store.url), limit=10, exclude=[], max_bytes=10_000)
    del hint.messages[3]  # as if too large to parse ahead: loaded on its own
    loads: list[str] = []

    def count_loads(*args: object) -> None:
        statement = str(args[2])
        if statement.startswith("SELECT") and "raw_messages.data" in statement:
            loads.append(statement)

    event.listen(store.engine, "before_cursor_execute", count_loads)
    assert process_pending(store, Context(config, Templates()), 50, hint) == 4

    assert len(loads) == 2  # messages 1, 2 and 4 together; message 3 alone
    with store.reader() as session:
        assert list(session.scalars(select(Ticket.subject).order_by(Ticket.number))) == [
            f"Request {n}" for n in range(1, 5)
        ]


def test_a_stage_stopped_with_its_greeting_unread_ends_quietly(
    store: Store, capfd: pytest.CaptureFixture[str]
) -> None:
    """Closing a socket with data unread resets it; the stage takes that as its end too."""
    ahead = ParseAhead(store.url)
    assert not ahead.request(10, [])  # starts the stage, sends nothing yet
    connection = ahead._connection
    assert connection is not None
    assert connection.poll(30)  # "ready" is waiting, unread
    stage = ahead._stage.child
    ahead.stop()

    assert stage is not None and stage.exitcode == 0
    assert "Traceback" not in capfd.readouterr().err


def test_the_stage_starts_without_sqlalchemy() -> None:
    """It starts when a flood begins and every core is busy: its imports are kept small."""
    check = "import sys, gateway.runtime.parse_ahead; print('sqlalchemy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_the_stage_reads_sqlite_only() -> None:
    with pytest.raises(ValueError, match="SQLite only"):
        open_database("postgresql+psycopg://gateway@db/gateway")


def test_a_mail_without_from_is_read_with_its_envelope_sender(store: Store) -> None:
    store.insert_raw([IncomingRaw(data=NO_SENDER, via="smtp", mail_from="anna@fabrikam.example")])

    parsed = parse_next(open_database(store.url), limit=1, exclude=[], max_bytes=10_000)

    message = parsed.messages[1]
    assert isinstance(message, ParsedMessage) and message.from_addr == "anna@fabrikam.example"
    assert message.defects == ("no From header; From taken from the envelope sender",)
