"""gateway/runtime/systemd.py against a real Unix datagram socket, as systemd listens on one."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.runtime.systemd import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_ready_watchdog_and_stopping_reach_the_socket(
    listener: tuple[str, socket.socket],
) -> None:
    path, sock = listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})
    assert notifier.ready("listening")
    assert received(sock) == ["READY=1", f"MAINPID={os.getpid()}", "STATUS=listening"]
    assert notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1"]
    assert notifier.stopping()
    assert received(sock) == ["STOPPING=1", "STATUS=stopping"]


def test_an_abstract_socket_name_begins_with_at() -> None:
    name = f"gatewayd-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        assert Notifier.from_environment({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert received(sock) == ["WATCHDOG=1"]


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environment({})
    assert notifier.address is None
    assert not notifier.ready()


def test_a_socket_gone_is_no_failure(tmp_path: Path) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert not notifier.watchdog()


def test_the_watchdog_interval_is_half_the_timeout_and_only_for_this_process() -> None:
    mine = {"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_environment(mine).ping_every == 10.0
    assert Notifier.from_environment({"WATCHDOG_USEC": "4000000"}).ping_every == 2.0
    other = {"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier.from_environment(other).ping_every is None
    assert Notifier.from_environment({"WATCHDOG_USEC": "soon"}).ping_every is None
