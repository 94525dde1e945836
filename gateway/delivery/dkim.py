"""DKIM signatures (RFC 6376) on outgoing mail, for partners whose gateway hands mail to a relay
that does not sign for them (a smarthost of their own rather than Exchange Online).

Signed at the relay hand-off, not when the mail is built: the outbox keeps the bytes the sender
built, and dkimpy's RSA is pure Python (several milliseconds a mail), which belongs in the
delivery thread rather than in a processing batch that holds the database's write lock. The
signing domain is the partner address's: every mail's From: is that address, so the signature
aligns with From: as DMARC (RFC 7489 §3.1.1) asks. gateway/delivery/relay.py's
`SigningRelay` signs each mail with `sign` before its transport takes it.
"""

from __future__ import annotations

from pathlib import Path

import dkim

# relaxed/relaxed: a relay that re-folds a header or trims trailing blanks (Exchange Online,
# mailing lists) leaves the signature valid; simple/simple would break on either.
CANONICALIZE = (b"relaxed", b"relaxed")


class DkimKeyError(ValueError):
    """The key file cannot be used; the text says why (never the key)."""


def read_key(path: Path, selector: str, domain: str) -> bytes:
    """The PEM private key at `path`, checked by signing a test message with it."""
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise DkimKeyError(f"cannot read {path}: {exc.strerror}") from None
    try:
        sign(b"From: x@" + domain.encode() + b"\r\n\r\ntest\r\n", selector, domain, key)
    except (dkim.DKIMException, ValueError, IndexError) as exc:
        # The error's type only: its text might quote the file, and the key is a secret.
        reason = type(exc).__name__
        raise DkimKeyError(f"{path} is not a PEM RSA private key ({reason})") from None
    return key


def sign(data: bytes, selector: str, domain: str, key: bytes) -> bytes:
    """`data` with a DKIM-Signature header field in front."""
    signature = dkim.sign(data, selector.encode(), domain.encode(), key, canonicalize=CANONICALIZE)
    return signature + data


SigningFailed = dkim.DKIMException  # a mail dkimpy cannot read
