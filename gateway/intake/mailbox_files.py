"""Messages in files, for `gatewayd import`: an mbox file, a Maildir, or .eml files.

The bytes are handed over as they are stored: the mbox's own "From " separator line is not part
of a message, and neither is the blank line the format puts before the next one (RFC 4155).
Each message is read once, one at a time, so a mailbox of several gigabytes never sits in
memory. The order is the mailbox's own (an mbox's; a Maildir's by the delivery time its file
names begin with), so that follow-ups thread onto the tickets their first mails opened.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("mbox", "maildir", "eml")
_MBOX_SEPARATOR = b"From "


class MailboxFileError(ValueError):
    """PATH cannot be read in the format asked; the text says why."""


@dataclass(frozen=True)
class MailboxFile:
    path: Path
    format: str

    @staticmethod
    def open(path: Path, format: str | None = None) -> MailboxFile:
        """PATH in `format`, or in the format it looks like."""
        if not path.exists():
            raise MailboxFileError(f"{path} does not exist")
        chosen = format or guess_format(path)
        if chosen not in FORMATS:
            raise MailboxFileError(f"--format must be one of {', '.join(FORMATS)}, got {chosen!r}")
        if chosen == "mbox" and not path.is_file():
            raise MailboxFileError(f"{path} is not a file, as an mbox is")
        if chosen == "maildir" and not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise MailboxFileError(f"{path} has no cur/ or new/ folder, as a Maildir has")
        return MailboxFile(path, chosen)

    def count(self) -> int:
        """How many messages `messages()` will give (for the progress bar's total)."""
        if self.format == "mbox":
            with self.path.open("rb") as mbox:
                return sum(1 for line in mbox if line.startswith(_MBOX_SEPARATOR))
        return sum(1 for _ in self._files())

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """(where, bytes) of each message; `where` names it for a person (file, or mbox:N)."""
        if self.format == "mbox":
            yield from _mbox_messages(self.path)
            return
        for file in self._files():
            yield str(file), file.read_bytes()

    def _files(self) -> Iterator[Path]:
        if self.format == "maildir":
            files = [f for sub in ("new", "cur") for f in _plain_files(self.path / sub)]
            yield from sorted(files, key=_delivered)
        elif self.path.is_file():
            yield self.path
        else:
            yield from sorted(f for f in self.path.rglob("*.eml") if f.is_file())


def guess_format(path: Path) -> str:
    if path.is_dir():
        return "maildir" if (path / "cur").is_dir() or (path / "new").is_dir() else "eml"
    with path.open("rb") as file:
        return "mbox" if file.read(len(_MBOX_SEPARATOR)) == _MBOX_SEPARATOR else "eml"


_MAILDIR_NAME = re.compile(r"^(\d+)\.(?:M(\d+))?")


def _delivered(file: Path) -> tuple[int, int, str]:
    """When a Maildir file was delivered: its name begins with the second, and most writers
    add the microsecond as M<n> (Dovecot, Python's mailbox), not zero-padded, so names do not
    sort as text; a name of another form counts from its file's modification time."""
    match = _MAILDIR_NAME.match(file.name)
    if match:
        return int(match[1]), int(match[2] or 0), file.name
    mtime = file.stat().st_mtime_ns
    return mtime // 10**9, mtime % 10**9 // 1000, file.name


def _plain_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")]


def _mbox_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """Split at each line that begins with "From ", as Python's mailbox.mbox and mutt do (a
    "From " in a body is written ">From " by the program that wrote the mbox)."""
    number, lines = 0, list[bytes]()
    with path.open("rb") as mbox:
        for line in mbox:
            if line.startswith(_MBOX_SEPARATOR):
                if number:
                    yield f"{path}:{number}", _without_separator_blank(lines)
                number, lines = number + 1, []
            elif number:
                lines.append(line)
    if number:
        yield f"{path}:{number}", _without_separator_blank(lines)


def _without_separator_blank(lines: list[bytes]) -> bytes:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines.pop()
    return b"".join(lines)
