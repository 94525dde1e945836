"""The processor's outcomes: quarantine keeps a failing message with its traceback, and replay
processes it once the fault is fixed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway import processor
from gateway.config import Config, load_config
from gateway.storage import IncomingRaw, RawMessage, Store, Ticket
from gateway.templates import Templates

REPO = Path(__file__).resolve().parents[2]
REQUEST = (
    b"From: Anna <anna@fabrikam.example>\r\nTo: support@contoso.example\r\n"
    b"Subject: Help\r\nMessage-ID: <q1@fabrikam.example>\r\n\r\nPlease help.\r\n"
)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    text = (REPO / "config.toml").read_text()
    text = text.replace(
        'secret_file = "var/gateway.secret"', 'secret = "unit-test-secret-0123456789"'
    )
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path)


@pytest.fixture
def store(config: Config) -> Store:
    store = Store(config.storage.url)
    store.migrate()
    return store


def raw_state(store: Store) -> tuple[str, str | None]:
    with store.session() as session:
        raw = session.scalars(select(RawMessage)).one()
        return raw.state, raw.error


def ticket_count(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count(Ticket.id))) or 0)


def test_a_failing_stage_quarantines_and_replay_after_the_fix_processes(
    config: Config, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = processor.Context(config, Templates())
    store.insert_raw([IncomingRaw(data=REQUEST, via="smtp")])

    def broken_parser(data: bytes) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(processor, "parse_message", broken_parser)
    assert processor.process_pending(store, context) == 1
    state, error = raw_state(store)
    assert state == "quarantined"
    assert error is not None and error.startswith("RuntimeError: parser bug")
    assert "Traceback" in error
    assert ticket_count(store) == 0
    assert processor.process_pending(store, context) == 0  # quarantined mail is not retried

    monkeypatch.undo()  # the fix
    assert processor.process_again(store, context, [1], ("quarantined",)) == 1
    assert raw_state(store) == ("done", None)
    assert ticket_count(store) == 1


def test_a_failure_rolls_back_only_its_own_message(
    config: Config, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = processor.Context(config, Templates())
    second = REQUEST.replace(b"q1@", b"q2@").replace(b"Help", b"Help again")
    store.insert_raw([IncomingRaw(data=REQUEST, via="smtp"), IncomingRaw(data=second, via="smtp")])
    real_acknowledge = processor._acknowledge
    calls = []

    def acknowledge_fails_once(*args: object) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("template bug")  # after the ticket row was written
        real_acknowledge(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(processor, "_acknowledge", acknowledge_fails_once)
    assert processor.process_pending(store, context) == 2
    with store.session() as session:
        states = dict(session.execute(select(RawMessage.id, RawMessage.state)).all())
        numbers = list(session.scalars(select(Ticket.number)))
    assert states == {1: "quarantined", 2: "done"}
    assert numbers == [1]  # the half-made ticket of message 1 is gone, its number reused
