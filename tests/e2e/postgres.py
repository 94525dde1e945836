"""A real PostgreSQL cluster for the tests: initdb and pg_ctl of the Debian package, in a temp
dir, on a free port, trust authentication on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.ports import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else (shutil.which(name) or name)


def available() -> bool:
    return Path(_bin("initdb")).exists()


class Postgres:
    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="gatewayd-pg-"))
        self.home.chmod(0o755)
        self.data = self.home / "data"
        self.port = free_port()
        self._owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    def _run(self, *command: str) -> None:
        # initdb and the server refuse to run as root: as root the tests use the postgres user.
        prefix = ["runuser", "-u", "postgres", "--"] if self._owner else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if not self.data.exists():
            if self._owner:
                os.chown(self.home, self._owner.pw_uid, self._owner.pw_gid)
            self._run(
                _bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
            )
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run(
            _bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.home / "server.log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session and shuts down cleanly; `immediate` is a crash of the
        server (no checkpoint, recovery at the next start)."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
