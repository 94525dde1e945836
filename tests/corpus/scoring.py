"""The shared corpus (../shared/corpus, read in place) scored against its expectations.

One function per set; each returns a `Score`: how many messages, how many fully right, how many
crashed, and the names of the wrong ones. tests/corpus/test_corpus.py asserts on the figures and
bench/parse.py prints them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parsers.html import html_reply_text, html_to_text
from parsers.message import ParsedMessage, Unparseable, parse_message
from parsers.quotes import new_text
from parsers.tnef import unpack

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"


@dataclass
class Score:
    name: str
    messages: int = 0
    right: int = 0
    crashes: int = 0
    wrong: list[str] = field(default_factory=list)

    def add(self, name: str, right: bool) -> None:
        self.messages += 1
        if right:
            self.right += 1
        else:
            self.wrong.append(name)

    @property
    def ratio(self) -> float:
        return self.right / self.messages if self.messages else 1.0

    def line(self) -> str:
        return (
            f"{self.name:28} {self.messages:4} messages {self.right:4} fully right "
            f"({100 * self.ratio:5.1f} %) {self.crashes} crashes"
        )


def _json(rel: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / rel).read_text("utf-8"))
    return data


def _norm(text: str) -> str:
    return " ".join(text.split())


def _parse(score: Score, name: str, raw: bytes) -> ParsedMessage | None:
    """None when the parser refused (Unparseable, counted wrong) or crashed (counted too)."""
    try:
        return parse_message(raw)
    except Unparseable:
        return None
    except Exception:
        score.crashes += 1
        return None


# --- imap_tools: MIME, headers, charsets, attachments ----------------------------------------


def imap_tools() -> Score:
    score = Score("imap_tools")
    base = CORPUS / "imap_tools" / "tests"
    for expected_path in sorted((base / "messages_data").rglob("*.json")):
        rel = expected_path.relative_to(base / "messages_data").with_suffix(".eml")
        expected = json.loads(expected_path.read_text("utf-8"))
        raw = (base / "messages" / rel).read_bytes()
        if expected.get("_input_line_endings") == "crlf":
            raw = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
        parsed = _parse(score, str(rel), raw)
        score.add(str(rel), parsed is not None and not imap_tools_differences(parsed, expected))
    return score


def imap_tools_differences(parsed: ParsedMessage, expected: dict[str, Any]) -> list[str]:
    """The fields where `parsed` differs from imap_tools' reading of the same message."""
    wanted = {
        "subject": _comparable(expected["subject"], parsed.subject),
        "from": expected["from_values"]["email"].lower() if expected["from_values"] else "",
        "to": [a["email"].lower() for a in expected["to_values"] if a["email"]],
        "cc": [a["email"].lower() for a in expected["cc_values"] if a["email"]],
        "reply_to": [a["email"].lower() for a in expected["reply_to_values"] if a["email"]],
        "date": _expected_date(expected["date"]),
        "attachments": sorted(
            (a["filename"], a["content_type"], a["payload_size"]) for a in expected["attachments"]
        ),
    }
    got = {
        "subject": _comparable(parsed.subject, expected["subject"]),
        "from": parsed.from_addr,
        "to": list(parsed.to),
        "cc": list(parsed.cc),
        "reply_to": list(parsed.reply_to),
        "date": parsed.date.astimezone(UTC) if parsed.date else None,
        "attachments": sorted((a.filename, a.content_type, a.size) for a in parsed.attachments),
    }
    differences = [key for key in wanted if _dedup(wanted[key]) != _dedup(got[key])]
    if "attachments" in differences and _same_files(wanted["attachments"], got["attachments"]):
        differences.remove("attachments")
    text = _comparable(expected["text"], parsed.full_text)
    if text.strip() and _squeezed(text) not in _squeezed(_comparable(parsed.full_text, text)):
        differences.append("text")
    return differences


def _comparable(text: str, other: str) -> str:
    """imap_tools drops the bytes it cannot decode; where its text is plain ASCII and ours has
    the letters it dropped, compare the ASCII only."""
    if other.isascii() and not text.isascii():
        text = "".join(c for c in text if c.isascii())
    return _norm(text)


def _squeezed(text: str) -> str:
    """imap_tools joins text parts without a separator, the parser with a blank line."""
    return re.sub(r"\s", "", text)


def _same_files(wanted: object, got: object) -> bool:
    """An attached mail's size is that of a re-serialised message, which depends on the
    serialiser's line endings and folding: it need only be within 10 %."""
    assert isinstance(wanted, list) and isinstance(got, list)
    if len(wanted) != len(got):
        return False
    for (w_name, w_type, w_size), (g_name, g_type, g_size) in zip(wanted, got, strict=True):
        if (w_name, w_type) != (g_name, g_type):
            return False
        if w_size != g_size and not (
            w_type == "message/rfc822" and abs(w_size - g_size) < w_size / 10
        ):
            return False
    return True


def _dedup(value: object) -> object:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(dict.fromkeys(value))
    return value


def _expected_date(value: str) -> datetime | None:
    parsed = datetime.fromisoformat(value)
    if parsed.year == 1900:  # imap_tools' "unparsable"
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


# --- reply and signature stripping -----------------------------------------------------------


def _text_of(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n")


def email_reply_trimmer() -> Score:
    score = Score("email_reply_trimmer")
    base = CORPUS / "email_reply_trimmer" / "test"
    for path in sorted((base / "emails").iterdir()):
        expected = (base / "trimmed" / path.name).read_text("utf-8")
        score.add(path.name, _norm(new_text(_text_of(path))) == _norm(expected))
    return score


def _portable_reply(expectation: dict[str, Any]) -> str | None:
    """The reply text an upstream test pins down, if it pins one down."""
    if "parse_reply" in expectation:
        return str(expectation["parse_reply"])
    first = expectation.get("fragments", {}).get("0", {})
    for key in ("trimmed_equals", "equals"):
        if key in first and not expectation.get("signature", [False])[0]:
            return str(first[key])
    return None


def reply_parser_set(folder: str) -> Score:
    """github, zapier, willdurand and crisp: the visible reply text, where upstream pins it."""
    score = Score(folder)
    data = _json(f"{folder}/expected.json")
    base = CORPUS / folder / data["fixtures_dir"]
    for name, expectation in sorted(data["files"].items()):
        reply = _portable_reply(expectation)
        if reply is None:
            continue
        score.add(name, _norm(new_text(_text_of(base / name))) == _norm(reply))
    return score


def mail_parser_reply() -> Score:
    score = Score("mail-parser-reply")
    data = _json("mail-parser-reply/expected.json")
    base = CORPUS / "mail-parser-reply" / data["fixtures_dir"]
    for name, expectation in sorted(data["files"].items()):
        first = expectation.get("replies", {}).get("0", {})
        if not {"body_equals", "body_contains", "body_not_contains"} & set(first):
            continue
        text = _norm(new_text(_text_of(base / name)))
        right = (
            ("body_equals" not in first or text == _norm(first["body_equals"]))
            and all(_norm(c) in text for c in first.get("body_contains", []))
            and all(_norm(c) not in text for c in first.get("body_not_contains", []))
        )
        score.add(name, right)
    return score


def talon() -> Score:
    score = Score("talon")
    data = _json("talon/expected.json")
    base = CORPUS / "talon" / data["fixtures_dir"]
    for name, expectation in sorted(data["files"].items()):
        if "reply_equals" in expectation:  # a whole message
            parsed = _parse(score, name, (base / name).read_bytes())
            right = parsed is not None and _norm(parsed.text) == _norm(expectation["reply_equals"])
            score.add(name, right)
        elif "reply_equals_ignoring_whitespace" in expectation:  # an HTML body
            text = new_text(html_reply_text(_text_of(base / name)))
            wanted = expectation["reply_equals_ignoring_whitespace"]
            score.add(name, re.sub(r"\s", "", text) == re.sub(r"\s", "", wanted))
    return score


# --- bounces ----------------------------------------------------------------------------------


def sisimai() -> Score:
    score = Score("sisimai-set-of-emails")
    data = _json("sisimai-set-of-emails/expected.json")["files"]
    for rel, expectation in sorted(data.items()):
        if expectation["recipients"] is None or _SISIMAI_PLACEHOLDER in expectation["recipients"]:
            continue  # unknown; the placeholder is sisimai's word for "no recipient found"
        parsed = _parse(score, rel, (CORPUS / "sisimai-set-of-emails" / rel).read_bytes())
        score.add(rel, parsed is not None and _sisimai_right(parsed, expectation))
    return score


_SISIMAI_PLACEHOLDER = "undisclosed-recipient-in-headers@libsisimai.org.invalid"


def _sisimai_right(parsed: ParsedMessage, expectation: dict[str, Any]) -> bool:
    if expectation.get("is_bounce") is False:
        return parsed.kind != "bounce"
    if expectation["reason"] == "vacation":
        return parsed.kind == "auto_reply"
    if expectation["reason"] == "delivered":  # a success report: nobody bounced
        return parsed.kind == "bounce" and not parsed.bounced_recipients
    wanted = {r.lower() for r in expectation["recipients"]}
    return parsed.kind == "bounce" and set(parsed.bounced_recipients) == wanted


def flufl_bounce() -> Score:
    score = Score("flufl.bounce")
    data = _json("flufl.bounce/expected.json")["files"]
    for name, expectation in sorted(data.items()):
        wanted = _flufl_addresses(expectation)
        if wanted is None:
            continue
        parsed = _parse(
            score, name, (CORPUS / "flufl.bounce" / "tests" / "data" / name).read_bytes()
        )
        got = set(parsed.bounced_recipients) if parsed else None
        score.add(name, got == wanted)
    return score


def _flufl_addresses(expectation: dict[str, Any]) -> set[str] | None:
    if "all_failures" in expectation:
        failures = expectation["all_failures"]
        return {a.lower() for a in failures["permanent"] + failures["temporary"]}
    if "scan_message" in expectation:
        return {a.lower() for a in expectation["scan_message"]}
    if "detectors" in expectation:
        return {a.lower() for d in expectation["detectors"] for a in d["addresses"]}
    return None


# --- TNEF and everything else: no crash -----------------------------------------------------------


def mimekit_tnef() -> Score:
    """ukr.eml carries a winmail.dat: its files must show up as attachments."""
    score = Score("mimekit-tnef")
    data = _json("mimekit-tnef/expected.json")["files"]
    for rel, expectation in sorted(data.items()):
        if rel.endswith(".tnef"):
            score.add(rel, _tnef_right((CORPUS / "mimekit-tnef" / rel).read_bytes(), expectation))
            continue
        parsed = _parse(score, rel, (CORPUS / "mimekit-tnef" / rel).read_bytes())
        body = _norm(html_to_text(expectation["tnef_body"]["text"]))
        right = parsed is not None and "winmail.dat" not in {a.filename for a in parsed.attachments}
        score.add(rel, right and parsed is not None and body in _norm(parsed.full_text))
    return score


def _tnef_right(data: bytes, expectation: dict[str, Any]) -> bool:
    """Every expected file is found by its bytes (text files compared with LF line ends, as
    MimeKit does; unnamed files are "Untitled Attachment.N" there)."""
    content = unpack(data)
    if content is None:
        return False
    found = set()
    for _, payload in content.files:
        found.add(hashlib.sha256(payload).hexdigest())
        found.add(hashlib.sha256(payload.replace(b"\r\n", b"\n")).hexdigest())
    return all(
        wanted["sha256"] in found
        for name, wanted in expectation["extracted_files"].items()
        if not name.startswith("message.")  # the body, checked through parse_message
    )


def _all_message_files() -> Iterator[tuple[str, Path]]:
    skip = {"expected.json", "LICENSE", "SHA256SUMS", "README.md", ".gitattributes"}
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.name not in skip and "messages_data" not in path.parts:
            yield str(path.relative_to(CORPUS)), path


def no_crash() -> Score:
    """Every file of every set, message or not, through the full parser."""
    score = Score("all files, no crash")
    for rel, path in _all_message_files():
        crashes = score.crashes
        _parse(score, rel, path.read_bytes())
        score.add(rel, score.crashes == crashes)
    return score


def message_files() -> list[bytes]:
    """The bytes of every corpus file that is a whole mail message (for the benchmark)."""
    found = []
    for _, path in _all_message_files():
        raw = path.read_bytes()
        if re.match(rb"^[!-9;-~]+:", raw) and path.suffix not in {".tnef", ".list"}:
            found.append(raw)
    return found


SETS: dict[str, Callable[[], Score]] = {
    "imap_tools": imap_tools,
    "email_reply_trimmer": email_reply_trimmer,
    "github-email_reply_parser": lambda: reply_parser_set("github-email_reply_parser"),
    "zapier-email-reply-parser": lambda: reply_parser_set("zapier-email-reply-parser"),
    "willdurand-EmailReplyParser": lambda: reply_parser_set("willdurand-EmailReplyParser"),
    "crisp-email-reply-parser": lambda: reply_parser_set("crisp-email-reply-parser"),
    "mail-parser-reply": mail_parser_reply,
    "talon": talon,
    "sisimai-set-of-emails": sisimai,
    "flufl.bounce": flufl_bounce,
    "mimekit-tnef": mimekit_tnef,
    "all files": no_crash,
}
