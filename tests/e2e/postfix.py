"""A real Postfix for the tests: Debian's binaries with a throwaway configuration and queue in a
folder of its own, on a free port of 127.0.0.1.

It stands where a partner's MTA stands: mail for the support address goes through it to
gatewayd's SMTP port (the transport snippet of deploy/postfix/), and gatewayd's outgoing mail is
relayed through the same Postfix to `relayhost` (the test's sink). Started with
`postfix -c DIR start` as root (the master drops to `mail_owner` itself); `make test` installs
the package with debconf's "No configuration", so no system instance runs beside it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import textwrap
import time
from pathlib import Path

from tests.e2e import pids
from tests.e2e.ports import free_port

REPO = Path(__file__).resolve().parents[2]
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"


def available() -> bool:
    return Path(POSTFIX).exists() and os.geteuid() == 0


class Postfix:
    def __init__(
        self, home: Path, support: str, gateway_port: int, relay_port: int, port: int = 0
    ) -> None:
        self.home = home
        self.port = port or free_port()
        self.config = home / "etc"
        self.queue = home / "spool"
        self.support = support  # the address (and its +extensions) handed to gatewayd
        self.gateway_port = gateway_port
        self.relay_port = relay_port  # where everything else goes: the test's sink
        for folder in (self.config, self.queue, home / "data"):
            folder.mkdir(parents=True, exist_ok=True)
        # The master and its servers run as mail_owner: they must reach the queue and own
        # their data folder (the queue's subfolders `postfix start` makes itself).
        home.chmod(0o755)
        owner = pwd.getpwnam("postfix")
        os.chown(home / "data", owner.pw_uid, owner.pw_gid)
        self._write_config()

    def _write_config(self) -> None:
        daemons = _postconf_default("daemon_directory")
        (self.config / "main.cf").write_text(
            textwrap.dedent(f"""\
            compatibility_level = 3.6
            queue_directory = {self.queue}
            data_directory = {self.home}/data
            daemon_directory = {daemons}
            meta_directory = /etc/postfix
            mail_owner = postfix
            setgid_group = postdrop
            maillog_file = {self.home}/maillog
            maillog_file_prefixes = {self.home}
            myhostname = mx.contoso.example
            mydomain = contoso.example
            myorigin = $myhostname
            mydestination =
            inet_interfaces = 127.0.0.1
            inet_protocols = ipv4
            # What only a test needs; then deploy/postfix/main.cf as shipped.
            relayhost = [127.0.0.1]:{self.relay_port}
            smtp_dns_support_level = disabled
            smtp_tls_security_level = none
            alias_maps =
            local_recipient_maps =
            # Retry soon: the test flushes the queue itself, this only keeps it short.
            queue_run_delay = 10s
            minimal_backoff_time = 10s
            maximal_backoff_time = 20s
            """)
            + _shipped("main.cf").replace(
                "hash:/etc/postfix/transport", f"texthash:{self.config}/transport"
            )
        )
        # The shipped transport, for this test's support address and gatewayd's port.
        transport = _shipped("transport").replace("support@contoso.example", self.support)
        (self.config / "transport").write_text(
            transport.replace("[127.0.0.1]:2525", f"[127.0.0.1]:{self.gateway_port}")
        )
        master = (Path("/etc/postfix") / "master.cf").read_text()
        # The shipped master.cf, with the smtpd on our port instead of 25, and no chroot (the
        # throwaway queue has no copy of /etc inside it).
        lines = []
        for line in master.splitlines():
            fields = line.split()
            if fields[:2] == ["smtp", "inet"]:
                line = f"127.0.0.1:{self.port} inet n - n - - smtpd"
            elif len(fields) >= 5 and not line[:1].isspace() and not line.startswith("#"):
                fields[4] = "n"
                line = " ".join(fields)
            lines.append(line)
        (self.config / "master.cf").write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self._postfix("start")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"postfix did not listen:\n{self.log_text()}")

    def stop(self) -> None:
        pid_file = self.queue / "pid" / "master.pid"
        if pid_file.exists():
            # The master keeps its pid file (locked, not removed) when it stops: wait for the
            # process it names.
            pid = int(pid_file.read_text().split()[0])
            self._postfix("stop", check=False)
            pids.wait_gone(pid)

    def flush(self) -> None:
        """Deliver the deferred mail now (postqueue -f), as an admin does after an outage."""
        self._postfix("flush")

    def queued(self) -> int:
        """Messages in the queue (deferred, active or incoming): `postqueue -j` lines."""
        result = subprocess.run(
            ["postqueue", "-c", str(self.config), "-j"], capture_output=True, text=True, check=True
        )
        return len([line for line in result.stdout.splitlines() if line.strip()])

    def log_text(self) -> str:
        log = self.home / "maillog"
        return log.read_text(errors="replace") if log.exists() else ""

    def _postfix(self, command: str, check: bool = True) -> None:
        # Postfix reports to stderr only on a terminal (else to syslog, which a test machine
        # may not run): `script` lends it one, so that a failure says why.
        line = f"{POSTFIX} -c {self.config} {command}"
        result = subprocess.run(
            ["script", "-qec", line, "/dev/null"], capture_output=True, text=True, timeout=60
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"postfix {command} exited {result.returncode}:\n{result.stdout}\n{self.log_text()}"
            )


def _shipped(name: str) -> str:
    """A snippet of deploy/postfix/, as an admin would paste it."""
    return (REPO / "deploy" / "postfix" / name).read_text()


def _postconf_default(name: str) -> str:
    result = subprocess.run([POSTCONF, "-dh", name], capture_output=True, text=True, check=True)
    return result.stdout.strip()
