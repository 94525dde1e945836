"""The admin commands: check-config, parse, replay of quarantined mail."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import REPO, Gateway, Sink, mail, wait_for


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "gatewayd.py", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_shipped_config_passes_check_config() -> None:
    result = run("check-config", "--config", "config.toml")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "2 customers" in result.stdout


def test_bad_config_names_each_key_and_reason(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    shipped = (REPO / "config.toml").read_text()
    config.write_text(
        shipped.replace('billing = "direct"', 'billing = "dirct"')
        .replace('max_size = "25MB"', 'max_size = "lots"')
        .replace('address = "jan@contoso.example"', 'address = "jan at contoso"')
    )
    for command in ("check-config", "run"):
        result = run(command, "--config", str(config))
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert (
            'config.toml: customers[0].billing: must be "direct" or "indirect", got \'dirct\''
            in lines
        )
        assert any(line.startswith("config.toml: smtp.max_size: must be a size") for line in lines)
        assert any(line.startswith("config.toml: agents[0].address: ") for line in lines)
        assert len(lines) == 3


def test_missing_environment_variable_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        (REPO / "config.toml")
        .read_text()
        .replace('secret_file = "var/gateway.secret"', 'secret = "${GATEWAYD_TEST_UNSET_SECRET}"')
    )
    result = run("check-config", "--config", str(config))
    assert result.returncode == 2
    assert (
        "partner.secret: environment variable GATEWAYD_TEST_UNSET_SECRET is not set"
        in result.stderr
    )


def test_parse_json_shows_how_a_message_is_read(tmp_path: Path) -> None:
    message = mail(
        subject="=?utf-8?q?Vraag_over_licenties?=",
        body="Nieuwe vraag.\n\nOp 24 nov. 2026 om 10:00 schreef Jan <jan@x.example>:\n> oud",
    )
    message.add_attachment(
        b"%PDF-1.4 test", maintype="application", subtype="pdf", filename="factuur.pdf"
    )
    path = tmp_path / "m.eml"
    path.write_bytes(message.as_bytes())
    result = run("parse", str(path), "--json", "--config", "config.toml")
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert parsed["from"] == "anna@fabrikam.example"
    assert parsed["to"] == ["support@contoso.example"]
    assert parsed["subject"] == "Vraag over licenties"
    assert parsed["kind"] == "normal"
    assert parsed["text"] == "Nieuwe vraag."
    assert "> oud" in parsed["full_text"]
    assert parsed["attachments"] == [
        {"filename": "factuur.pdf", "content_type": "application/pdf", "size": 13, "inline": False}
    ]
    for key in ("cc", "message_id", "in_reply_to", "references", "date", "bounced_recipients"):
        assert key in parsed


def test_odd_mail_makes_tickets_with_its_defects(gateway: Gateway, sink: Sink) -> None:
    gateway.send(b"this is not a mail message at all\r\n", sender="x@fabrikam.example")
    gateway.send(b"Subject: no sender\r\n\r\nwho wrote this?\r\n", sender="y@fabrikam.example")
    gateway.send(mail(subject="after the odd ones"))
    tickets = gateway.wait_for_tickets(3)
    assert sorted(t["requester"] for t in tickets) == [
        "anna@fabrikam.example",
        "x@fabrikam.example",
        "y@fabrikam.example",
    ]
    sink.wait_for_mail("y@fabrikam.example")  # acknowledged: the envelope sender can be answered

    assert gateway.json("replay", "--quarantined") == []
    no_sender = next(t for t in tickets if t["requester"] == "y@fabrikam.example")
    (defects,) = [
        e for e in gateway.ticket(no_sender["number"])["events"] if e["what"] == "defects"
    ]
    assert defects["defects"] == ["no From header; From taken from the envelope sender"]


def test_parse_never_refuses_a_mail_without_a_sender(tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(b'From: "Millions Lottery"@example.com>\r\nSubject: You won\r\n\r\nClaim!\r\n')

    result = run("parse", str(path), "--json", "--config", "config.toml")

    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert (parsed["from"], parsed["text"], parsed["forwarded"]) == ("", "Claim!", None)
    assert parsed["defects"] == [
        "From header without a usable address ('\"Millions Lottery\"@example.com>'), "
        "and no other sender address: nobody can be answered"
    ]


def test_route_explain_shows_the_decision_and_the_trace(tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(
        mail(subject="Extra licenties", body="Wij willen 5 extra licenses.").as_bytes()
    )
    result = run("route", "--explain", str(path), "--json", "--config", "config.toml")
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["action"] == "handle"
    assert decision["queue"] == "sales"
    assert decision["rule"] == "Subscription changes stay with us"
    assert decision["customer"] == "fabrikam"
    assert decision["trace"] == [
        {
            "rule": "Known incident",
            "matched": False,
            "conditions": [{"when": "known_issue", "held": False}],
        },
        {
            "rule": "Subscription changes stay with us",
            "matched": True,
            "conditions": [{"when": "intent", "held": True}],
        },
    ]
    assert decision["triage"]["top"] == "subscription"
    assert decision["triage"]["language"] == "nl"
    text = run("route", "--explain", str(path), "--config", "config.toml").stdout
    assert text.startswith("triage:   subscription ")  # triage first, then the rules
    assert "MATCH Subscription changes stay with us: intent=yes" in text


def test_sighup_with_a_broken_config_keeps_the_running_one(gateway: Gateway, sink: Sink) -> None:
    good = gateway.config.read_text()
    gateway.config.write_text(good.replace('billing = "direct"', 'billing = "dirct"'))
    assert gateway.process is not None
    gateway.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "config.kept" in gateway.log_text(), 10, "the reload to be refused")
    assert "customers[0].billing" in gateway.log_text()
    gateway.config.write_text(good)  # for the CLI; the daemon has not read it
    gateway.send(mail())
    (ticket,) = gateway.wait_for_tickets(1)
    assert ticket["customer"] == "fabrikam"

    gateway.config.write_text(good.replace("acks_per_hour = 3", "acks_per_hour = 0"))
    gateway.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "worker.reloaded" in gateway.log_text(), 10, "the worker's reload")
    gateway.send(mail(subject="second"))
    gateway.wait_for_tickets(2)
    sink.wait_for_mail("jan@contoso.example", count=2)
    assert len(sink.to("anna@fabrikam.example")) == 1  # the new limit of 0 is in force


def test_a_sighup_during_start_up_is_kept_until_the_daemon_runs(tmp_path: Path, sink: Sink) -> None:
    gateway = Gateway(tmp_path, sink)
    gateway.launch()
    while not gateway.accepting():  # no sleep: the signal must come as soon as it listens
        pass
    assert gateway.process is not None
    gateway.config.write_text(
        gateway.config.read_text().replace("acks_per_hour = 3", "acks_per_hour = 0")
    )
    gateway.process.send_signal(signal.SIGHUP)
    try:
        wait_for(lambda: "worker.reloaded" in gateway.log_text(), 15, "the worker's reload")
        gateway.send(mail())
        gateway.wait_for_tickets(1)
        sink.wait_for_mail("jan@contoso.example")
        assert sink.to("anna@fabrikam.example") == []  # the reloaded limit of 0 is in force
    finally:
        assert gateway.stop() == 0, gateway.log_text()


def test_route_explain_says_why_a_known_issue_matched(tmp_path: Path) -> None:
    """The shipped known issue is about Exchange Online sending; a German mail that never names
    Exchange implies it (point 8 of issue 17)."""
    config = tmp_path / "config.toml"
    text = (REPO / "config.toml").read_text()
    config.write_text(text.replace('secret_file = "var/gateway.secret"', f'secret = "{"s" * 32}"'))
    path = tmp_path / "m.eml"
    path.write_bytes(
        mail(
            subject="E-Mail", body="Wir können seit heute keine E-Mails mehr versenden."
        ).as_bytes()
    )

    result = run("route", "--explain", str(path), "--json", "--config", str(config))

    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["known_issue"] == "EX123456"
    assert decision["known_issue_why"] == [
        "implies Exchange Online: mail, send",
        "words of the incident: send",
        "says something does not work: keine",
    ]
    shown = run("route", "--explain", str(path), "--config", str(config)).stdout
    assert "known issue: EX123456 (implies Exchange Online: mail, send;" in shown
