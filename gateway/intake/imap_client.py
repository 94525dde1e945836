"""The IMAP side of a mailbox reader (gateway/intake/imap.py), on IMAPClient: connecting, signing
in, selecting the folder, finding and fetching mail in batches, marking it done, and waiting
for more. Nothing here touches the database: the reader commits, then calls `mark_done`.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from gateway.config import Imap

if TYPE_CHECKING:
    from gateway.auth.microsoft import TokenSource

BATCH_MESSAGES = 500
FIRST_BATCH_MESSAGES = 100  # the worker's batch (gateway/runtime/worker.py, PROCESS_BATCH)
BATCH_BYTES = 50 * 10**6  # a batch of large mails must not fill memory
IDLE_RENEW = timedelta(minutes=29)  # RFC 2177: servers may drop an IDLE after 30 minutes
IDLE_CHECK_SECONDS = 1.0  # how quickly a reader notices that the daemon stops
NETWORK_TIMEOUT_SECONDS = 60.0


def connect(settings: Imap) -> IMAPClient:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    client = IMAPClient(
        settings.host,
        port=settings.port,
        ssl=settings.tls,
        ssl_context=context,
        timeout=NETWORK_TIMEOUT_SECONDS,
    )
    if settings.starttls:
        client.starttls(context)
    return client


def certificate_expiry(client: IMAPClient) -> float | None:
    """notAfter of the certificate the server showed (checked by then), or None without TLS."""
    sock = client.socket()
    if not isinstance(sock, ssl.SSLSocket):
        return None
    certificate = sock.getpeercert()
    not_after = certificate.get("notAfter") if certificate else None
    return ssl.cert_time_to_seconds(str(not_after)) if not_after else None


def login(client: IMAPClient, settings: Imap, token: TokenSource | None) -> None:
    if token is None:
        client.login(settings.username, settings.password)
        return
    try:
        client.oauth2_login(settings.username, token.get())
    except LoginError:
        token.invalidate()  # expired or revoked early: one fresh token, one more try
        client.oauth2_login(settings.username, token.get())


def select(client: IMAPClient, settings: Imap) -> int:
    """Select the folder (making `done_folder` first if it is missing); its UIDVALIDITY."""
    done = settings.done_folder
    if done and not client.folder_exists(done):
        client.create_folder(done)
    selected = client.select_folder(settings.folder)
    return int(selected[b"UIDVALIDITY"])


def highest_seen(client: IMAPClient) -> int:
    return max(client.search(["SEEN"]) or [0])


def waiting(client: IMAPClient, settings: Imap, last_uid: int) -> list[int]:
    """The UIDs not taken yet. `last_uid` (the highest taken) counts in flag mode only."""
    if settings.done_folder:
        # Whatever is still in the folder has not been moved yet, so is not done.
        return sorted(client.search(["NOT", "DELETED"]))
    unseen = client.search(["NOT", "DELETED", "UNSEEN"])
    # Also anything above the last UID taken, even if a person read it first. "n:*" always
    # includes the highest UID, even below n (RFC 3501 §6.4.8), hence the filter.
    above = [uid for uid in client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid]
    return sorted(set(unseen) | set(above))


def fetch(client: IMAPClient, uids: list[int]) -> dict[int, bytes]:
    """The messages' bytes, by UID; BODY.PEEK[]: nothing is marked read by the fetch."""
    fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    found = sorted(fetched.items())
    return {uid: bytes(data[b"BODY[]"]) for uid, data in found if b"BODY[]" in data}


def batches(client: IMAPClient, uids: list[int]) -> Iterator[list[int]]:
    """Batches of at most BATCH_MESSAGES messages and about BATCH_BYTES; the first of a backlog
    is FIRST_BATCH_MESSAGES, so that processing begins while the rest is read."""
    start, count = 0, FIRST_BATCH_MESSAGES
    while start < len(uids):
        chunk = uids[start : start + count]
        start, count = start + count, BATCH_MESSAGES
        sizes = client.fetch(chunk, ["RFC822.SIZE"])
        batch: list[int] = []
        total = 0
        for uid in chunk:
            size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
            if batch and total + size > BATCH_BYTES:
                yield batch
                batch, total = [], 0
            batch.append(uid)
            total += size
        if batch:
            yield batch


def mark_done(client: IMAPClient, uids: list[int], done: str | None) -> str:
    """Move the batch to `done`, or flag it \\Seen without one; says which way."""
    if not done:
        client.add_flags(uids, [b"\\Seen"])
        return "flag"
    if client.has_capability("MOVE"):
        client.move(uids, done)  # RFC 6851: atomic, no \\Deleted left behind
        return "move"
    client.copy(uids, done)
    client.add_flags(uids, [b"\\Deleted"])
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)  # RFC 4315: expunge only what we copied
    else:
        client.expunge()
    return "copy"


def wait_for_mail(client: IMAPClient, settings: Imap, stop: threading.Event) -> None:
    """Until new mail may have come: IDLE's EXISTS, or `poll` passed; or until `stop`."""
    poll = settings.poll.total_seconds()
    if not (settings.idle and client.has_capability("IDLE")):
        client.noop()  # proves the connection is alive before the next poll
        stop.wait(poll)
        return
    # Re-issued at least every `poll` (well before 29 minutes): a dead connection that the
    # kernel has not noticed is found at the next search, not half an hour later.
    deadline = time.monotonic() + min(poll, IDLE_RENEW.total_seconds())
    client.idle()
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            responses = client.idle_check(timeout=IDLE_CHECK_SECONDS)
            if any(is_new_mail(response) for response in responses):
                return
    finally:
        client.idle_done()


def is_new_mail(response: object) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] == b"EXISTS"


def close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the connection may already be gone; nothing left to tidy
        with contextlib.suppress(Exception):
            client.shutdown()
