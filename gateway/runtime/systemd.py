"""The systemd notify protocol, spoken when the service manager sets NOTIFY_SOCKET.

sd_notify(3): the daemon sends newline-separated assignments ("READY=1", "STOPPING=1",
"WATCHDOG=1", "STATUS=...") as one datagram to the AF_UNIX socket named in $NOTIFY_SOCKET; a
name that begins with "@" is in the abstract namespace (the "@" stands for a leading NUL byte).
sd_watchdog_enabled(3): $WATCHDOG_USEC is the watchdog's timeout in microseconds, meant for the
process named in $WATCHDOG_PID when that is set; a daemon should ping at half the timeout.

Plain socket code: the protocol is one sendto() per state change, and libsystemd's Python
bindings need a C toolchain to install. Without NOTIFY_SOCKET (not under systemd, or a
Type=simple unit) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.logs import log_event

log = logging.getLogger("gateway.systemd")


@dataclass(frozen=True)
class Notifier:
    address: str | bytes | None  # None: not under a service manager that listens
    watchdog_seconds: float | None  # the timeout, None without a watchdog for this process

    @staticmethod
    def from_environment(environ: Mapping[str, str] = os.environ) -> Notifier:
        return Notifier(_address(environ.get("NOTIFY_SOCKET", "")), _watchdog(environ))

    @property
    def ping_every(self) -> float | None:
        """Half the watchdog timeout, as sd_watchdog_enabled(3) recommends."""
        return self.watchdog_seconds / 2 if self.watchdog_seconds else None

    def ready(self, status: str = "") -> bool:
        lines = ["READY=1", f"MAINPID={os.getpid()}"]
        if status:
            lines.append(f"STATUS={status}")
        return self.send(*lines)

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=stopping")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def send(self, *assignments: str) -> bool:
        """One datagram; True when it was sent. A manager that went away is no reason for the
        daemon to stop: the failure is logged and the mail goes on."""
        if self.address is None:
            return False
        payload = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)  # a manager that does not read never holds up the loop
                sock.sendto(payload, self.address)
        except OSError as exc:
            log_event(log, "systemd.notify_failed", level=logging.WARNING, error=str(exc))
            return False
        return True


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    # Empty, or a form this code does not speak (systemd 254's "vsock:CID:PORT").
    return None


def _watchdog(environ: Mapping[str, str]) -> float | None:
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = environ.get("WATCHDOG_PID", "")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None  # meant for another process of the tree
    return usec / 1_000_000
