"""`gatewayd import` (issue 19) while the daemon runs: an mbox and a Maildir, each twice (the second
import adds nothing), threaded by the usual rules, with `--no-mail` (archive: nobody hears of
it) and without (acknowledgements go out as for new mail)."""

from __future__ import annotations

import json
import mailbox
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.e2e.conftest import PARTNER, Gateway, Sink, mail

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def relay() -> Iterator[Sink]:
    sink = Sink()
    sink.start()
    yield sink
    sink.stop()
    for received in sink.received:  # partner-only sending, as the sink fixture checks it
        assert received.mail_from == PARTNER
        assert received.message["From"].addresses[0].addr_spec == PARTNER


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, relay: Sink) -> Iterator[Gateway]:
    """One daemon for the module: each test imports mail of its own senders."""
    gateway = Gateway(tmp_path_factory.mktemp("gateway"), relay)
    gateway.start()
    yield gateway
    assert gateway.stop() == 0
    assert "Traceback" not in gateway.log_text(), gateway.log_text()


def tickets_of(gateway: Gateway, prefix: str) -> list[dict[str, object]]:
    return [t for t in gateway.tickets() if str(t["subject"]).startswith(prefix)]


def history(prefix: str) -> list[bytes]:
    """Three requests, a follow-up on the first, an auto-reply, and an empty message."""
    first = mail(sender=f"{prefix}1@fabrikam.example", subject=f"{prefix}: VPN drops")
    follow_up = mail(sender=f"{prefix}1@fabrikam.example", subject=f"RE: {prefix}: VPN drops",
                     body="Still dropping.", In_Reply_To=str(first["Message-ID"]))  # fmt: skip
    robot = mail(sender=f"{prefix}-ooo@fabrikam.example", subject="Out of office",
                 Auto_Submitted="auto-replied")  # fmt: skip
    others: list[EmailMessage] = [
        mail(sender=f"{prefix}{n}@tailwind.example", subject=f"{prefix}: request {n}")
        for n in (2, 3)
    ]
    return [m.as_bytes() for m in (first, *others, follow_up, robot)] + [b""]


def summary_of(gateway: Gateway, path: Path, *flags: str) -> dict[str, int]:
    result = gateway.cli("import", str(path), *flags, "--json")
    assert result.returncode == 0, result.stderr
    assert "msg/s" in result.stderr  # the progress bar
    return dict(json.loads(result.stdout))


def test_an_mbox_in_archive_mode_then_again(daemon: Gateway, relay: Sink, tmp_path: Path) -> None:
    gateway, sink = daemon, relay
    today = mail(sender="today@fabrikam.example", subject="today: printer")
    gateway.send(today)  # a ticket open now, which an old mail of the archive follows up
    (open_now,) = gateway.wait_for_tickets(1)
    old_reply = mail(sender="today@fabrikam.example", subject="RE: today: printer",
                     In_Reply_To=str(today["Message-ID"]))  # fmt: skip
    box = mailbox.mbox(tmp_path / "support.mbox")
    for data in [*history("arch"), old_reply.as_bytes()]:
        box.add(data)
    box.close()
    summary = summary_of(gateway, tmp_path / "support.mbox", "--format", "mbox", "--no-mail")
    assert (summary["read"], summary["stored"]) == (7, 7)
    assert (summary["tickets"], summary["follow_ups"], summary["robots"]) == (3, 2, 1)
    assert summary["quarantined"] == 1
    tickets = tickets_of(gateway, "arch")
    assert sorted(t["subject"] for t in tickets) == [
        "arch: VPN drops", "arch: request 2", "arch: request 3"
    ]  # fmt: skip
    assert {t["status"] for t in tickets} == {"closed"}  # the past, on record
    vpn = next(t for t in tickets if t["subject"] == "arch: VPN drops")
    assert [m["text"] for m in gateway.ticket(vpn["number"])["messages"]][-1] == "Still dropping."

    assert gateway.ticket(open_now["number"])["status"] == "new"  # the past leaves it open
    again = summary_of(gateway, tmp_path / "support.mbox", "--no-mail")  # format guessed
    assert (again["read"], again["stored"], again["tickets"]) == (7, 0, 0)
    assert len(tickets_of(gateway, "arch")) == 3
    time.sleep(3)  # the daemon's worker would have delivered by now
    assert [r for r in sink.received if any("arch" in to for to in r.rcpt_tos)] == []
    # The agent heard of today's ticket when it came, and of nothing the archive brought.
    (notified,) = sink.to("jan@contoso.example")
    assert "today: printer" in notified.message["Subject"]


def test_a_maildir_with_mail_acknowledges_like_new_mail(
    daemon: Gateway, relay: Sink, tmp_path: Path
) -> None:
    gateway, sink = daemon, relay
    box = mailbox.Maildir(tmp_path / "Maildir")
    for data in history("live"):
        box.add(data)
    box.close()
    summary = summary_of(gateway, tmp_path / "Maildir", "--format", "maildir")
    assert (summary["tickets"], summary["follow_ups"], summary["robots"]) == (3, 1, 1)
    sink.wait_for_mail("live1@fabrikam.example")  # the running daemon delivers the outbox
    sink.wait_for_mail("live2@tailwind.example")
    assert {t["status"] for t in tickets_of(gateway, "live")} == {"new"}  # for the agents
    again = summary_of(gateway, tmp_path / "Maildir")
    assert (again["stored"], again["tickets"]) == (0, 0)
    assert len(tickets_of(gateway, "live")) == 3
