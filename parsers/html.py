"""HTML bodies as readable text: links kept, style, script and tracking pixels gone.

lxml cleans the document and finds the quoted history that clients mark up in HTML; html2text
renders what is left (it keeps links as "[text](url)", which agents need).
"""

from __future__ import annotations

import re

import html2text
import lxml.etree  # type: ignore[import-untyped]  # lxml-stubs is not a dependency
import lxml.html  # type: ignore[import-untyped]

# Elements whose content is never text for a reader.
_INVISIBLE = ("script", "style", "head", "title", "noscript", "template", "svg", "object")

# Where clients put the quoted history of a reply; the element goes, with what follows it.
_HISTORY_STARTS = (
    "//*[@id='divRplyFwdMsg']",  # Outlook (desktop and web): the From:/Sent: block
    "//*[@id='appendonsend']",  # Outlook on the web: everything below is the old mail
    "//*[@id='OLK_SRC_BODY_SECTION']",  # Outlook for Mac
    "//hr[@id='stopSpelling']",  # Hotmail / Outlook.com
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')]",  # Thunderbird
)
# Quoted history that is one element: only it goes.
_HISTORY_ELEMENTS = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]",  # Gmail
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' yahoo_quoted ')]",  # Yahoo
    "//blockquote[@type='cite']",  # Apple Mail and Thunderbird
)


def html_to_text(html: str) -> str:
    """All the readable text of an HTML body."""
    document = _document(html)
    if document is None:
        return _rendered(html)
    _drop_invisible(document)
    return _rendered(_serialised(document))


def html_reply_text(html: str) -> str:
    """The readable text of an HTML body without the quoted history that clients mark up."""
    document = _document(html)
    if document is None:
        return _rendered(html)
    _drop_invisible(document)
    _drop_history(document)
    return _rendered(_serialised(document))


# lxml refuses text with C0 controls (XML 1.0 §2.2); they are never readable text anyway.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# html2text is pure Python (about 1 s per MB): only this much of a body is rendered, so that a
# 10 MB newsletter cannot hold up the processor. No person writes more in one mail.
_MAX_HTML = 1_000_000


def _document(html: str) -> lxml.html.HtmlElement | None:
    html = html[:_MAX_HTML]
    if not html.strip():
        return None
    try:
        # A declared encoding inside a str makes lxml refuse it; the text is decoded already.
        return lxml.html.document_fromstring(_CONTROL.sub("", html))
    except (lxml.etree.ParserError, ValueError):
        return None


def _drop_invisible(document: lxml.html.HtmlElement) -> None:
    for element in document.iter(*_INVISIBLE):
        _remove(element)
    for comment in document.xpath("//comment()"):
        _remove(comment)
    for image in document.iter("img"):
        _remove(image)  # tracking pixels and logos; html2text would print only their URLs
    for link in document.iter("a"):
        _unwrap_self_link(link)


def _unwrap_self_link(link: lxml.html.HtmlElement) -> None:
    """A link whose text is its own target ("<a href='mailto:x@y'>x@y</a>") as plain text:
    "[x@y](mailto:x@y)" only repeats it."""
    target = (link.get("href") or "").removeprefix("mailto:").strip()
    text = link.text_content().strip()
    if not target or text not in (target, target.split("?", 1)[0]) or len(link):
        return
    link.drop_tag()


def _drop_history(document: lxml.html.HtmlElement) -> None:
    for path in _HISTORY_STARTS:
        for element in document.xpath(path):
            _remove_with_following(element)
    for path in _HISTORY_ELEMENTS:
        for element in document.xpath(path):
            _remove(element)


def _remove_with_following(element: lxml.html.HtmlElement) -> None:
    """Remove `element` and everything after it in document order (up to <body>)."""
    node = element
    while node is not None and node.tag not in ("body", "html"):
        parent = node.getparent()
        for sibling in list(node.itersiblings()):
            _remove(sibling)
        previous = node.getprevious()
        if node is element and previous is not None and previous.tag == "hr":
            _remove(previous)  # Outlook's rule above the block
        node = parent
    _remove(element)


def _remove(element: lxml.html.HtmlElement) -> None:
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    previous = element.getprevious()
    parent.remove(element)
    if tail and tail.strip():  # keep text that followed the element
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def _serialised(document: lxml.html.HtmlElement) -> str:
    return str(lxml.html.tostring(document, encoding="unicode"))


def _rendered(html: str) -> str:
    html = html[: 2 * _MAX_HTML]  # serialised back it may be longer than it came
    converter = html2text.HTML2Text()
    converter.body_width = 0  # keep paragraphs on one line; mail clients wrap
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True  # layout tables of newsletters and Outlook: just the text
    converter.unicode_snob = True  # "é", not "e"
    converter.inline_links = True
    converter.protect_links = False
    converter.skip_internal_links = True
    return _plain(str(converter.handle(html))).strip()


# html2text writes Markdown: what would read as a list is escaped ("\\-- " for a signature
# delimiter, "\\- item", "1\\. item") and a <br> ends its line with two spaces. The text is
# read as plain text, where both are noise.
_ESCAPED_DASH_PLUS = re.compile(r"(?m)^(\s*)\\([-+])")
_ESCAPED_NUMBER_DOT = re.compile(r"(?m)^(\s*\d+)\\\.")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


def _plain(text: str) -> str:
    text = _TRAILING_SPACE.sub("", text)
    if "\\" not in text:
        return text
    return _ESCAPED_NUMBER_DOT.sub(r"\1.", _ESCAPED_DASH_PLUS.sub(r"\1\2", text))
