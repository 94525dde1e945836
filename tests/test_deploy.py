"""deploy/: the systemd unit says what docs/OPERATIONS.md promises, and systemd accepts it."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "deploy" / "gatewayd.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_the_unit_is_a_notify_service_with_a_watchdog_and_hardening() -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert service["WatchdogSec"]
    assert service["ExecStart"].split()[1:3] == ["run", "--config"]
    assert service["User"] == "gatewayd"
    for key, value in {
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "ReadWritePaths": "/var/lib/gatewayd",
    }.items():
        assert service[key] == value, key


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: the installed path is not there in a test.
    text = UNIT.read_text().replace("/opt/gatewayd/bin/gatewayd", sys.executable)
    (tmp_path / "gatewayd.service").write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "gatewayd.service")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "gatewayd.service" not in result.stderr, result.stderr
