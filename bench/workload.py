"""What the benchmarks send and how they run gatewayd: the same customer mails and the same
base config for every benchmark, so their figures compare."""

from __future__ import annotations

import signal
import subprocess
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CUSTOMER_DOMAIN = "fabrikam.example"
PARTNER_DOMAIN = "contoso.example"
SUPPORT = f"support@{PARTNER_DOMAIN}"
SUBJECTS = (
    "Outlook keeps asking for my password",
    "Teams meeting recordings are missing",
    "Cannot open shared mailbox on phone",
    "OneDrive sync stuck at 'processing changes'",
    "New employee needs a mailbox by Monday",
    "SharePoint site shows access denied",
    "MFA prompt never arrives on my phone",
    "Printer scans no longer arrive by mail",
)
BODY = """\
Hello support,

Since this morning I have a problem: {problem}.
I restarted my laptop twice, but it did not help. Colleagues see it too.
Could you please have a look? I am reachable until 17:00.

Kind regards,
{user}
Fabrikam BV
"""
BASE_CONFIG = f"""\
[partner]
name = "Contoso Cloud"
address = "{SUPPORT}"
domains = ["{PARTNER_DOMAIN}"]
ticket_tag = "CONTOSO"
secret = "bench-secret-that-is-long-enough"

[support]
hours = "Mon-Fri 08:00-18:00"
timezone = "Europe/Amsterdam"
contact = "{SUPPORT}, +31 20 555 0100"
first_response = "4h"
acks_per_hour = 5

[storage]
url = "sqlite:///gateway.db"

[outbound]
relay = "maildir:outgoing"

[[customers]]
id = "fabrikam"
name = "Fabrikam BV"
domains = ["{CUSTOMER_DOMAIN}"]
tenant = "fabrikam.onmicrosoft.com"
billing = "direct"
language = "nl"

[[agents]]
address = "jan@{PARTNER_DOMAIN}"
name = "Jan de Vries"
roles = ["helpdesk-agent"]
customers = ["*"]
queues = ["helpdesk"]
"""


def build_messages(count: int) -> list[bytes]:
    """Distinct customer mails (CRLF line ends), each from its own sender so that the
    acknowledgement rate limit per sender never holds anything back."""
    messages = []
    for i in range(count):
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = f"User {i:05d} <user{i:05d}@{CUSTOMER_DOMAIN}>"
        msg["To"] = SUPPORT
        subject = SUBJECTS[i % len(SUBJECTS)]
        msg["Subject"] = f"{subject} (case {i})"
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(f"bench{i}", domain=CUSTOMER_DOMAIN)
        msg.set_content(BODY.format(problem=subject.lower(), user=f"User {i:05d}"))
        messages.append(msg.as_bytes())
    return messages


def stop_daemon(daemon: subprocess.Popen[bytes]) -> int:
    daemon.send_signal(signal.SIGTERM)
    try:
        return daemon.wait(30)
    except subprocess.TimeoutExpired:
        print("  daemon did not stop within 30 s of SIGTERM; killed")
        daemon.kill()
        return daemon.wait()
