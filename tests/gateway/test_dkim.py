"""gateway/delivery/dkim.py: what the relay gets verifies with dkimpy against the public key."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Sequence
from pathlib import Path

import dkim
import pytest

from gateway.delivery.dkim import DkimKeyError, read_key
from gateway.delivery.relay import SigningRelay

MAIL = (
    b"From: Contoso Cloud <support@contoso.example>\r\n"
    b"To: anna@fabrikam.example\r\n"
    b"Subject: [CONTOSO#1] Outlook cannot send mail\r\n"
    b"Message-ID: <1@contoso.example>\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"\r\n"
    b"We received your request.\r\n"
)


def make_key(folder: Path) -> tuple[Path, bytes]:
    """A private key file and the p= value of its DNS record."""
    private = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True,
                   capture_output=True)  # fmt: skip
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return private, base64.b64encode(der)


class Capture:
    def __init__(self) -> None:
        self.data: list[bytes] = []

    def deliver(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> None:
        self.data.append(data)


def dns_for(public: bytes) -> object:
    def txt(name: bytes, timeout: int = 5) -> bytes | None:
        if name == b"gw2026._domainkey.contoso.example.":
            return b"v=DKIM1; k=rsa; p=" + public
        return None

    return txt


def test_the_relay_gets_mail_that_verifies(tmp_path: Path) -> None:
    private, public = make_key(tmp_path)
    capture = Capture()
    relay = SigningRelay(capture, "gw2026", "contoso.example", read_key(private, "gw2026",
                         "contoso.example"))  # fmt: skip
    relay.deliver("support@contoso.example", ["anna@fabrikam.example"], MAIL)
    (signed,) = capture.data
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert signed.endswith(MAIL)
    assert dkim.verify(signed, dnsfunc=dns_for(public))
    # A relay that changes the text breaks it: the test can fail.
    assert not dkim.verify(signed.replace(b"received", b"rejected"), dnsfunc=dns_for(public))


def test_a_key_that_cannot_sign_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(DkimKeyError, match="cannot read"):
        read_key(tmp_path / "missing.pem", "gw", "contoso.example")
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(DkimKeyError, match="not a PEM RSA private key"):
        read_key(tmp_path / "bad.pem", "gw", "contoso.example")
