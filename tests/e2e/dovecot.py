"""A real Dovecot IMAP server for the tests: throwaway config, free ports, self-signed cert."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import textwrap
import time
from pathlib import Path

from imapclient import IMAPClient

from tests.e2e import pids
from tests.e2e.ports import free_ports

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


class Dovecot:
    """`users` maps login → password. With `oauth_url`, logins are checked by OAuth2 token
    introspection against that URL instead (Dovecot's oauth2 passdb)."""

    def __init__(
        self,
        home: Path,
        users: dict[str, str],
        oauth_url: str | None = None,
        capabilities: str | None = None,
    ) -> None:
        self.home = home
        self.capabilities = capabilities  # what the server advertises, e.g. without MOVE or IDLE
        self.users = users
        self.oauth_url = oauth_url
        self.config = home / "dovecot.conf"
        self.cert = home / "cert.pem"
        self._started = False
        self._choose_ports()
        self._write_files()

    def _choose_ports(self) -> None:
        self.port, self.tls_port = free_ports(2)  # plain with STARTTLS; implicit TLS
        self.instance = f"gatewayd-test-{self.port}"  # names its processes, for stop()

    def _write_files(self) -> None:
        for folder in ("run", "state", "mail"):
            (self.home / folder).mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o755)
        _self_signed(self.home)
        owner = _mail_owner()
        os.chown(self.home / "mail", owner.pw_uid, owner.pw_gid)
        passwd = "".join(f"{user}:{{PLAIN}}{password}\n" for user, password in self.users.items())
        (self.home / "passwd").write_text(passwd)
        (self.home / "oauth2.conf").write_text(
            textwrap.dedent(f"""\
            introspection_mode = post
            introspection_url = {self.oauth_url}
            username_attribute = username
            active_attribute = active
            active_value = true
            """)
        )
        self.config.write_text(self._config_text(owner))

    def _config_text(self, owner: pwd.struct_passwd) -> str:
        home = self.home
        if self.oauth_url:
            passdb = f"driver = oauth2\n  args = {home}/oauth2.conf"
            mechanisms = "plain login xoauth2 oauthbearer"
        else:
            passdb = f"driver = passwd-file\n  args = scheme=PLAIN username_format=%u {home}/passwd"
            mechanisms = "plain login"
        internal = (
            ""
            if os.geteuid() == 0
            else (
                f"default_internal_user = {owner.pw_name}\ndefault_login_user = {owner.pw_name}\n"
            )
        )
        advertised = f"imap_capability = {self.capabilities}\n" if self.capabilities else ""
        return f"""\
{advertised}base_dir = {home}/run
state_dir = {home}/state
log_path = {home}/dovecot.log
instance_name = {self.instance}
listen = 127.0.0.1
protocols = imap
{internal}ssl = yes
ssl_cert = <{home}/cert.pem
ssl_key = <{home}/key.pem
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
passdb {{
  {passdb}
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={home}/mail/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = {self.tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""

    def start(self) -> None:
        for attempt in range(3):
            code = self._run_master()
            if code == 0:
                break
            # Another process may take a port between its probe and Dovecot's bind; before
            # anyone was told the ports, new ones will do.
            in_use = "in use" in self._start_log()
            if self._started or not in_use or attempt == 2:
                raise AssertionError(
                    f"dovecot exited with {code} at start:\n{self._start_log()}\n{self.log_text()}"
                )
            self._choose_ports()
            self.config.write_text(self._config_text(_mail_owner()))
        self._started = True
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"dovecot did not start:\n{self.log_text()}")

    def _run_master(self) -> int:
        # Not capture_output: the daemonised master keeps the pipes open and run() would wait.
        with (self.home / "start.log").open("ab") as output:
            command = [DOVECOT, "-c", str(self.config)]
            return subprocess.run(command, stdout=output, stderr=subprocess.STDOUT).returncode

    def _start_log(self) -> str:
        return (self.home / "start.log").read_text(errors="replace")

    def stop(self) -> None:
        """The server goes away, open sessions too (the master alone leaves them running)."""
        pid_file = self.home / "run" / "master.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text())
        # Killed, as in a crash of its host: a master told to stop takes seconds waiting on its
        # children, and the tests ask for a server gone, not for a polite goodbye.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["pkill", "-KILL", "-f", f"dovecot-{self.instance}/"], check=False)
        pids.wait_gone(pid)
        pid_file.unlink(missing_ok=True)

    def log_text(self) -> str:
        log = self.home / "dovecot.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def client(self, user: str) -> IMAPClient:
        """A logged-in client for the test's own actions (APPEND, SEARCH…)."""
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(user, self.users[user])
        return client

    def append(self, user: str, messages: list[bytes], folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for message in messages:
                client.append(folder, message)
        finally:
            client.logout()

    def uids(self, user: str, folder: str = "INBOX", criteria: str = "ALL") -> list[int]:
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search(criteria))
        finally:
            client.logout()


def _mail_owner() -> pwd.struct_passwd:
    # Dovecot will not let uid 0 own mail; as root the tests use nobody, else the test user.
    return pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())


def _self_signed(home: Path) -> None:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(home / "key.pem"),
            "-out",
            str(home / "cert.pem"),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )


def tls_context(dovecot: Dovecot) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(dovecot.cert))
