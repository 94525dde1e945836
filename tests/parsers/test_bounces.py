"""parsers/bounces.py: which recipients a delivery report says failed."""

from __future__ import annotations

from parsers.message import parse_message


def report(
    *blocks: tuple[bytes, bytes], report_type: bytes = b"delivery-status", boundary: bytes = b"B"
) -> bytes:
    body = b"".join(
        b"--" + boundary + b"\r\nContent-Type: message/" + kind + b"\r\n\r\n" + block + b"\r\n"
        for kind, block in blocks
    )
    return (
        b"From: MAILER-DAEMON@mx.fabrikam.example\r\nTo: support@contoso.example\r\n"
        b"Subject: Delivery Status Notification\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=" + report_type + b"; "
        b'boundary="' + boundary + b'"\r\n\r\n'
        b"--"
        + boundary
        + b"\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
        + body
        + b"--"
        + boundary
        + b"--\r\n"
    )


def test_failed_and_delayed_count_delivered_does_not() -> None:
    status = (
        b"Reporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; gone@fabrikam.example\r\nAction: failed\r\n\r\n"
        b"Final-Recipient: rfc822; slow@fabrikam.example\r\nAction: delayed\r\n\r\n"
        b"Final-Recipient: rfc822; fine@fabrikam.example\r\nAction: delivered\r\n"
    )

    parsed = parse_message(report((b"delivery-status", status)))

    assert parsed.kind == "bounce"
    assert parsed.bounced_recipients == ("gone@fabrikam.example", "slow@fabrikam.example")


def test_a_report_returned_inside_the_report_is_not_read() -> None:
    status = b"Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; a@x.example\r\nAction: failed"
    returned = report((b"delivery-status", status.replace(b"a@x", b"inner@x")), boundary=b"C")

    parsed = parse_message(report((b"delivery-status", status), (b"rfc822", returned)))

    assert parsed.bounced_recipients == ("a@x.example",)


def test_exim_x_failed_recipients() -> None:
    data = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example>\r\n"
        b"X-Failed-Recipients: gone@fabrikam.example\r\n"
        b"Subject: Mail delivery failed: returning message to sender\r\n\r\n"
        b"This message was created automatically by mail delivery software.\r\n"
    )

    parsed = parse_message(data)

    assert (parsed.kind, parsed.bounced_recipients) == ("bounce", ("gone@fabrikam.example",))


def test_a_plain_notice_names_the_failed_address_not_the_alias() -> None:
    data = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example>\r\nTo: support@contoso.example\r\n"
        b"Subject: Mail delivery failed\r\n\r\n"
        b"The following address(es) failed:\r\n\r\n"
        b"  anna.deboer@mailbox.example\r\n    (generated from anna@fabrikam.example)\r\n\r\n"
        b"------ This is a copy of the message, including all the headers. ------\r\n"
        b"From: support@contoso.example\r\nTo: anna@fabrikam.example\r\n"
    )

    assert parse_message(data).bounced_recipients == ("anna.deboer@mailbox.example",)


def test_qmail_style_notice_is_confirmed_by_the_returned_to() -> None:
    data = (
        b"From: MAILER-DAEMON@mx.example\r\nTo: support@contoso.example\r\n"
        b"Subject: failure notice\r\n\r\n"
        b"Hi. This is the qmail-send program at mx.example.\r\n"
        b"For help contact <helpdesk@mx.example>.\r\n\r\n"
        b"<gone@fabrikam.example>:\r\nSorry, no mailbox here by that name.\r\n\r\n"
        b"--- Below this line is a copy of the message.\r\n\r\n"
        b"Message-ID: <123@contoso.example>\r\nTo: gone@fabrikam.example\r\n"
    )

    assert parse_message(data).bounced_recipients == ("gone@fabrikam.example",)


def test_an_abuse_report_names_the_complaining_recipient() -> None:
    feedback = b"Feedback-Type: abuse\r\nOriginal-Rcpt-To: anna@fabrikam.example\r\n"

    parsed = parse_message(report((b"feedback-report", feedback), report_type=b"feedback-report"))

    assert (parsed.kind, parsed.bounced_recipients) == ("bounce", ("anna@fabrikam.example",))


def test_a_person_forwarding_a_bounce_is_a_person() -> None:
    data = (
        b"From: Anna <anna@fabrikam.example>\r\nTo: support@contoso.example\r\n"
        b"Subject: Fw: Undeliverable: invoice\r\n\r\nWhy does this bounce?\r\n"
    )

    parsed = parse_message(data)

    assert (parsed.kind, parsed.bounced_recipients) == ("normal", ())


def test_recipients_guessed_from_free_text_keep_one_order_whatever_the_hash_seed() -> None:
    """flufl.bounce returns sets; the order of the recipients must not change with
    PYTHONHASHSEED (the same bounce read twice, by two daemons, reads the same)."""
    import subprocess
    import sys
    from pathlib import Path

    bounce = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "flufl.bounce"
    path = bounce / "tests" / "data" / "sendmail_01.txt"
    code = (
        "import sys; from parsers.message import parse_message; "
        "print(parse_message(open(sys.argv[1], 'rb').read()).bounced_recipients)"
    )
    root = Path(__file__).resolve().parents[2]
    orders = {
        subprocess.run(
            [sys.executable, "-c", code, str(path)],
            cwd=root,
            env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(6)
    }
    assert len(orders) == 1
    (order,) = orders
    assert order.count("@") >= 2  # more than one recipient, or order would not matter
