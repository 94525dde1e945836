"""`gatewayd status`, `import` and `backup`: for the admin who runs the gateway."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gateway.cli.base import EX_FAILURE, EX_OK, EX_USAGE, Commands, open_store, print_json
from gateway.config import Config
from gateway.runtime.status import Snapshot
from gateway.store.faults import StorageUnavailable
from gateway.store.models import utcnow

HEALTHZ_TIMEOUT_SECONDS = 5.0


def _status(config: Config, args: argparse.Namespace) -> int:
    """The facts /metrics exports, from the database, and what the daemon's /healthz says."""
    snapshot = _stored_snapshot(config)
    daemon = _daemon_health(config)
    if args.json:
        print_json({**snapshot.as_json(), "daemon": daemon})
        return EX_OK
    for line in _status_lines(config, snapshot, daemon):
        print(line)
    return EX_OK if snapshot.storage_error is None else EX_FAILURE


def _stored_snapshot(config: Config) -> Snapshot:
    from gateway.runtime.alerts import raised
    from gateway.runtime.status import queue_depths, stored_mailboxes
    from gateway.store.engine import Store

    store = Store(config.storage.url)
    try:
        store.migrate()  # as every command that reads does (an upgrade not yet started)
        with store.reader() as session:
            names = [mailbox.name for mailbox in config.imap]
            return Snapshot(
                at=utcnow(),
                storage_error=None,
                queues=queue_depths(session),
                mailboxes=stored_mailboxes(session, names),
                alerts=raised(session),
            )
    except StorageUnavailable as exc:
        return Snapshot(at=utcnow(), storage_error=str(exc))
    finally:
        store.close()


def _daemon_health(config: Config) -> dict[str, Any]:
    if config.metrics is None:
        return {"healthz": None, "why": "[metrics] is not set: no /healthz to ask"}
    host = "127.0.0.1" if config.metrics.host in ("", "0.0.0.0") else config.metrics.host
    url = f"http://{host}:{config.metrics.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=HEALTHZ_TIMEOUT_SECONDS) as response:
            return {"healthz": response.read().decode().strip(), "url": url}
    except urllib.error.HTTPError as exc:  # 503: the reasons are the body
        return {"healthz": exc.read().decode().strip(), "url": url}
    except OSError:
        return {"healthz": "not running", "url": url}


def _status_lines(config: Config, snapshot: Snapshot, daemon: dict[str, Any]) -> list[str]:
    storage = "ok" if snapshot.storage_error is None else f"DOWN: {snapshot.storage_error}"
    lines = [f"storage   {storage}", f"daemon    {daemon['healthz'] or daemon['why']}"]
    if snapshot.queues:
        lines.append("queues    " + ", ".join(f"{k} {v}" for k, v in snapshot.queues.items()))
    stall_after = config.alerts.stall_after
    for mailbox in snapshot.mailboxes:
        when = mailbox.last_success
        late = when is not None and snapshot.at - when >= stall_after
        since = (
            f"last read to its end {when.isoformat(timespec='seconds')}" if when else "never read"
        )
        lines.append(f"mailbox   {mailbox.name}: {since}{' (STALLED)' if late else ''}")
    for alert in snapshot.alerts:
        lines.append(f"alert     {alert}")
    if not snapshot.alerts and snapshot.storage_error is None:
        lines.append("alerts    none raised")
    return lines


def _import(config: Config, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gateway.delivery.templates import Templates
    from gateway.intake.mailbox_files import MailboxFile, MailboxFileError
    from gateway.intake.mailbox_import import import_mailbox
    from gateway.processing.processor import Context

    try:
        source = MailboxFile.open(args.path, args.format)
        total = source.count()
    except (MailboxFileError, OSError) as exc:
        print(f"{args.path}: {exc}", file=sys.stderr)
        return EX_USAGE
    store = open_store(config)
    context = Context(config, Templates(config.templates_folder))
    mode = "archive, no mail" if args.no_mail else "with mail"
    try:
        # On stderr, which stays free for it: --json's summary is the only thing on stdout.
        with tqdm(total=total, unit="msg", desc=f"import ({mode})", file=sys.stderr) as bar:
            summary = import_mailbox(store, context, source, not args.no_mail, bar.update)
    finally:
        store.close()
    if args.json:
        print_json(summary.as_json())
    else:
        print("\n".join(summary.lines()))
    return EX_OK


def _backup(config: Config, args: argparse.Namespace) -> int:
    from gateway.store.backup import BackupError, backup_database

    try:
        backup = backup_database(config.storage.url, args.path)
    except BackupError as exc:
        print(f"gatewayd backup: {exc}", file=sys.stderr)
        return EX_FAILURE
    size = backup.size / 10**6
    print(f"{backup.target}: {size:.1f} MB, {backup.tickets} tickets (of {backup.source})")
    return EX_OK


def register(commands: Commands) -> None:
    status = commands.add("status", _status, "queues, mailboxes, alerts and the daemon's health")
    status.add_argument("--json", action="store_true")
    found = commands.add(
        "import", _import, "store and process a mailbox's history (mbox, Maildir, .eml)"
    )
    found.add_argument("path", type=Path, metavar="PATH")
    found.add_argument("--format", choices=("mbox", "maildir", "eml"), help="default: guessed")
    found.add_argument(
        "--no-mail", action="store_true", help="archive: acknowledge and notify nobody"
    )
    found.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    backup = commands.add("backup", _backup, "a consistent copy of the SQLite database")
    backup.add_argument("path", type=Path, metavar="PATH")
