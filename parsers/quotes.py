"""Separate the new text of a reply from the quoted history and the signature.

Every line gets a one-letter class, and the decisions are patterns over the string of classes;
the approach of Discourse's email_reply_trimmer, whose test mails are in the shared corpus:

    e empty   d delimiter (a rule, "--")   s mobile signature   b "On … wrote:" or a forward marker
    h header of an embedded mail ("From:", "Van:", "Gesendet:")   q quoted ("> …")   t text

The language knowledge lives in parsers/quote_markers.py.
"""

from __future__ import annotations

import re

from parsers.quote_markers import (
    DELIMITER,
    QUOTE,
    is_embedded_marker,
    is_header,
    is_signature,
    joined_marker_lines,
)

# Lines past this are never looked at: a reply's new text is at the top, and this bounds the
# time spent on a mail that quotes a whole mailbox (github's email_long_quote.txt is 767 kB).
_MAX_LINES = 5000
# The pattern regexes below work on the class string, never on mail text, so they are linear.
_REPLY_AT_END = re.compile(r"^b[^t]+t[et]*$")  # trimmer: ^(b[^t]+)*b[^t]+t[et]*$, same set
_TEXT_BEFORE_MARKER = re.compile(r"te*b[^q]*$")
_TEXT_BEFORE_QUOTED_MARKER = re.compile(r"te*b[eqbh]*([te]*)$")
_TEXT_BEFORE_FINAL_QUOTE = re.compile(r"te*[qbe]+$")
_WRAPPED_HEADERS = re.compile(r"h+[hte]+h+e")
_HEADER_BLOCK = re.compile(r"t[eq]*h{3,}")
_TRAILING_QUOTE = re.compile(r"[eq]+$")


def new_text(text: str) -> str:
    """The part of `text` the sender wrote now, without quoted history and signatures."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:_MAX_LINES]
    lines = joined_marker_lines(lines)
    classes = _with_wrapped_headers("".join(_line_class(line) for line in lines))
    classes = _with_prose_signatures(classes, lines)
    classes = _with_heading_underlines(classes, lines)
    classes = _with_wrapped_quotes(classes)
    at_end = bool(_REPLY_AT_END.match(classes))
    if at_end:  # bottom posting: the history comes first, so read the mail upside down
        lines.reverse()
        classes = classes[::-1]
    classes, lines = _trimmed(classes, lines)
    if at_end:
        lines.reverse()
    # A "-Martin" or "Groet, Ilse" sign-off is the sender's own text: it stays (only a mailing
    # list's footer takes the one above it along, _above_list_footer).
    return "\n".join(lines).strip()


def _line_class(line: str) -> str:
    if not line.strip():
        return "e"
    if DELIMITER.match(line):
        return "d"
    if is_signature(line):
        return "s"
    if is_embedded_marker(line):
        return "b"
    if is_header(line):
        return "h"
    if QUOTE.match(line):
        return "q"
    return "t"


def _trimmed(classes: str, lines: list[str]) -> tuple[str, list[str]]:
    if "b" in classes and "t" not in classes:  # only a quote header and what it quotes
        return "", []
    classes, lines = _cut_at_delimiter(classes, lines)
    classes, lines = _cut_at_mobile_signature(classes, lines)
    classes, lines = _without(classes, lines, "s")
    classes, lines = _cut_after_text_before(_TEXT_BEFORE_MARKER, classes, lines)
    match = _TEXT_BEFORE_QUOTED_MARKER.search(classes)
    if match and match[1].count("t") < 7:  # a marker, its quote, and a little text after it
        classes, lines = classes[: match.start() + 1], lines[: match.start() + 1]
    classes, lines = _cut_after_text_before(_TEXT_BEFORE_FINAL_QUOTE, classes, lines)
    classes, lines = _without(classes, lines, "b")
    # Outlook's From:/Sent:/To:/Subject: block without a rule above it.
    classes, lines = _cut_after_text_before(_HEADER_BLOCK, classes, lines)
    classes = classes.replace("h", "t")  # a lone "From: x" line is ordinary text
    match = _TRAILING_QUOTE.search(classes)
    if "t" in classes and match:
        classes, lines = classes[: match.start()], lines[: match.start()]
    return classes, lines


_UNDERLINE = re.compile(r"(?<=t)d(?=e*t)")
# A heading is a short line; its underline is about as long as it ("Problem 1\n---------").
_HEADING = 60
_UNDERLINE_SLACK = 3


def _with_heading_underlines(classes: str, lines: list[str]) -> str:
    """A rule right under a short line of text, as long as that line, with more text below, is
    the line's underline (a plain-text heading), not a signature separator: "-- " and
    Outlook's long rule under a name are not as long as the line above them."""
    if "d" not in classes:
        return classes
    found = list(classes)
    for match in _UNDERLINE.finditer(classes):
        index = match.start()
        heading, rule = lines[index - 1].strip(), lines[index].strip()
        short = len(rule) >= 3 and len(heading) <= _HEADING
        if short and abs(len(rule) - len(heading)) <= _UNDERLINE_SLACK:
            found[index] = "t"
    return "".join(found)


_SANDWICHED_TEXT = re.compile(r"(?<=q)t(?=q)")
_SIGNATURE_IN_PARAGRAPH = re.compile(r"(?<=t)s")
_LINK = re.compile(r"<[^<>\s]*>|\bhttps?://\S+")
# A phone's signature is a short line of its own; a longer one that goes on from the line above
# is a sentence that happens to start alike ("verzonden met dit bericht is uitsluitend bestemd").
_SIGNATURE_LINE = 60


def _with_prose_signatures(classes: str, lines: list[str]) -> str:
    """A "Sent from …"-like line inside a paragraph, or a long one right under text, is text."""
    if "s" not in classes:
        return classes
    found = list(classes)
    for match in _SIGNATURE_IN_PARAGRAPH.finditer(classes):
        index = match.start()
        inside = index + 1 < len(classes) and classes[index + 1] == "t"
        if inside or len(_LINK.sub("", lines[index]).strip()) > _SIGNATURE_LINE:
            found[index] = "t"
    return "".join(found)


def _with_wrapped_quotes(classes: str) -> str:
    """Below a quote header, a text line between two quoted lines is a quoted line that a client
    wrapped without repeating the ">" (seen from Gmail and Outlook for Mac)."""
    marker = classes.find("b")
    if marker < 0:
        return classes
    return classes[:marker] + _SANDWICHED_TEXT.sub("q", classes[marker:])


def _with_wrapped_headers(classes: str) -> str:
    """A header value that the client wrapped onto the next lines is part of the header block."""
    match = _WRAPPED_HEADERS.search(classes)
    if not match:
        return classes
    return classes[: match.start()] + "h" * len(match[0]) + classes[match.end() :]


def _cut_at_delimiter(classes: str, lines: list[str]) -> tuple[str, list[str]]:
    """Everything after the first rule or "--" that follows some text is history or signature."""
    first_text = classes.find("t")
    index = classes.find("d", max(first_text, 0))
    if first_text < 0 or index < 0:
        return classes.replace("d", "e"), lines
    footer = len(lines[index].strip()) >= _MAILMAN_RULE and _LIST_FOOTER.search(
        "\n".join(lines[index + 1 : index + 6])
    )
    if footer:
        index = _above_list_footer(classes, lines, index)
    return classes[:index], lines[:index]


# Mailman's footer: a rule of 47 "_", then "riak-users mailing list", the address, its listinfo.
_MAILMAN_RULE = 20
_LIST_FOOTER = re.compile(r"mailing list|/listinfo/|^To unsubscribe", re.IGNORECASE | re.MULTILINE)
_DASH_NAME = re.compile(r"^\s*-[^\W\d_][\w .'-]{0,40}$")


def _above_list_footer(classes: str, lines: list[str], index: int) -> int:
    """Where the signature above a mailing list's footer begins: a "-Abhishek Kona" alone above
    it signs the list post (as github's and willdurand's reply parsers read it). A sign-off
    anywhere else ("-Martin" above the quoted mail) is the sender's new text and stays."""
    above = index - 1
    while above >= 0 and classes[above] == "e":
        above -= 1
    has_blank_above = above >= 1 and classes[above - 1] == "e"
    if above >= 0 and has_blank_above and _DASH_NAME.match(lines[above]):
        return above
    return index


_SIGNATURE_AFTER_TEXT = re.compile(r"te*s(?:e|$)")


def _cut_at_mobile_signature(classes: str, lines: list[str]) -> tuple[str, list[str]]:
    """A phone puts "Sent from my iPhone" on a line of its own under what was typed; what
    follows is the quoted mail, even without a quote header (Outlook for Android, iOS Mail)."""
    match = _SIGNATURE_AFTER_TEXT.search(classes)
    if not match:
        return classes, lines
    end = match.start() + match[0].index("s")
    return classes[:end], lines[:end]


def _cut_after_text_before(
    pattern: re.Pattern[str], classes: str, lines: list[str]
) -> tuple[str, list[str]]:
    match = pattern.search(classes)
    if not match:
        return classes, lines
    return classes[: match.start() + 1], lines[: match.start() + 1]


def _without(classes: str, lines: list[str], kind: str) -> tuple[str, list[str]]:
    kept = [(c, line) for c, line in zip(classes, lines, strict=True) if c != kind]
    return "".join(c for c, _ in kept), [line for _, line in kept]
