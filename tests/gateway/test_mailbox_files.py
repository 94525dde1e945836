"""gateway/intake/mailbox_files.py: mbox, Maildir and .eml files as the stdlib writes them."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from gateway.intake.mailbox_files import MailboxFile, MailboxFileError


def mail(n: int) -> bytes:
    # A body line beginning "From " is what an mbox writer must quote.
    return (
        f"From: anna{n}@fabrikam.example\nTo: support@contoso.example\nSubject: request {n}\n"
        f"Message-ID: <{n}@fabrikam.example>\n\nLine one of {n}.\nFrom here on it fails.\n"
    ).encode()


def test_an_mbox_gives_each_message_once_in_order(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "support.mbox")
    for n in range(5):
        box.add(mail(n))
    box.close()
    found = MailboxFile.open(tmp_path / "support.mbox")
    assert found.format == "mbox"
    assert found.count() == 5
    messages = list(found.messages())
    assert [where for where, _ in messages][:2] == [
        f"{tmp_path / 'support.mbox'}:1",
        f"{tmp_path / 'support.mbox'}:2",
    ]
    # The stdlib quotes the body's "From " as ">From "; the separator and its blank line go.
    assert [data for _, data in messages] == [
        mail(n).replace(b"\nFrom here", b"\n>From here") for n in range(5)
    ]


def test_a_maildir_in_delivery_order_new_and_cur(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir")
    keys = [box.add(mail(n)) for n in range(4)]
    message = box.get_message(keys[1])
    message.set_subdir("cur")
    box[keys[1]] = message  # read by a person: moved to cur/
    box.close()
    found = MailboxFile.open(tmp_path / "Maildir")
    assert found.format == "maildir"
    assert found.count() == 4
    subjects = [data.split(b"Subject: ")[1].split(b"\n")[0] for _, data in found.messages()]
    assert subjects == [f"request {n}".encode() for n in range(4)]


def test_maildir_names_sort_by_their_time_not_as_text(tmp_path: Path) -> None:
    (tmp_path / "cur").mkdir()
    for name, n in (("1700000000.M99P1.host", 1), ("1700000000.M100000P1.host", 2),
                    ("1699999999.M5P1.host:2,S", 0)):  # fmt: skip
        (tmp_path / "cur" / name).write_bytes(mail(n))
    found = [data for _, data in MailboxFile.open(tmp_path).messages()]
    assert found == [mail(0), mail(1), mail(2)]


def test_eml_files_one_or_a_folder_of_them(tmp_path: Path) -> None:
    (tmp_path / "2024").mkdir()
    for n in range(3):
        (tmp_path / "2024" / f"{n}.eml").write_bytes(mail(n))
    (tmp_path / "2024" / "notes.txt").write_text("not mail")
    folder = MailboxFile.open(tmp_path, "eml")
    assert folder.count() == 3
    assert [data for _, data in folder.messages()] == [mail(n) for n in range(3)]
    one = MailboxFile.open(tmp_path / "2024" / "1.eml")
    assert one.format == "eml"
    assert [data for _, data in one.messages()] == [mail(1)]


def test_a_path_that_is_not_in_the_format_says_why(tmp_path: Path) -> None:
    with pytest.raises(MailboxFileError, match="does not exist"):
        MailboxFile.open(tmp_path / "none")
    with pytest.raises(MailboxFileError, match="no cur/ or new/"):
        MailboxFile.open(tmp_path, "maildir")
    with pytest.raises(MailboxFileError, match="not a file"):
        MailboxFile.open(tmp_path, "mbox")
    with pytest.raises(MailboxFileError, match="must be one of mbox, maildir, eml"):
        MailboxFile.open(tmp_path, "pst")
