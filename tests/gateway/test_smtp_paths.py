"""gateway/intake/smtp_session.py: the fast reading of MAIL FROM and RCPT TO paths gives what
aiosmtpd's own reading gives, for every argument it takes and for every one it leaves to
aiosmtpd."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.intake.smtp_session import _PLAIN_PATH, BudgetedSMTP, MemoryBudget


class _Handler:
    pass


def readings(argument: str) -> tuple[object, object]:
    """What our session and aiosmtpd's make of a path: the result, or the exception's type
    (the email parser raises on some input, and aiosmtpd then answers 500)."""
    # A loop of our own, closed: without one, aiosmtpd makes one, sets it as the thread's and
    # leaves it open; once a later test replaces it (asyncio.run does), its ResourceWarning
    # when collected fails whichever test runs then.
    loop = asyncio.new_event_loop()
    try:
        ours = BudgetedSMTP(_Handler(), budget=MemoryBudget(10**6), hostname="test", loop=loop)
        theirs = SMTP(_Handler(), hostname="test", loop=loop)
        return _reading(ours, argument), _reading(theirs, argument)
    finally:
        loop.close()


def _reading(session: SMTP, argument: str) -> object:
    try:
        return session._getaddr(argument)
    except Exception as exc:
        return type(exc)


# Built from the characters that decide between the two readings: atext, dots, the angle
# brackets, whitespace, comments, quotes, domain literals and parameters.
TOKENS = [*'ab.Z9-_+=@<> \t()"[]:,;\\é', "SIZE=1", "BODY=8BITMIME", "x" * 64]
ARGUMENTS = st.lists(st.sampled_from(TOKENS), max_size=30).map("".join)

EXAMPLES = [
    "<customer@contoso.example>",
    "<customer@contoso.example> SIZE=1234 BODY=8BITMIME",
    "<customer@contoso.example>\tSIZE=1 ",
    "<first.last+tag@sub.contoso.example>",
    "<>",
    "<a..b@contoso.example>",
    "<a@contoso..example>",
    "<a@contoso.example.>",
    "<a@[192.0.2.1]>",
    '<"quoted local"@contoso.example>',
    "<a@contoso.example> (comment) SIZE=1",
    "<@relay.example:a@contoso.example>",
    "a@contoso.example",
    "<a@contoso.example",
    "<" + "x" * 65 + "@contoso.example>",
    "<" + "x" * 64 + "@contoso.example>",
    "<josé@contoso.example>",
]


@pytest.mark.parametrize("argument", EXAMPLES)
def test_examples_read_as_aiosmtpd_reads_them(argument: str) -> None:
    ours, theirs = readings(argument)
    assert ours == theirs


def test_plain_paths_take_the_fast_reading() -> None:
    """Otherwise the equality above would hold trivially, by always asking aiosmtpd."""
    assert _PLAIN_PATH.match("<customer@contoso.example> SIZE=1")
    assert not _PLAIN_PATH.match("<a@[192.0.2.1]>")


@settings(max_examples=3000, deadline=None)
@given(ARGUMENTS)
def test_any_argument_reads_as_aiosmtpd_reads_it(argument: str) -> None:
    ours, theirs = readings(argument)
    assert ours == theirs
