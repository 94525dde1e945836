"""routing/authenticity.py: which replies claiming to be an agent's are acted on."""

from __future__ import annotations

import dataclasses

import pytest

from routing.authenticity import ReplyEvidence, refusal_of

JAN = "jan@contoso.example"
GOOD = ReplyEvidence(
    agent=JAN,
    signed=True,
    fresh=True,
    from_addr=JAN,
    envelope_sender=JAN,
    authserv_id="",
    dkim_pass=False,
)


def problem(**changes: object) -> str | None:
    refusal = refusal_of(dataclasses.replace(GOOD, **changes))  # type: ignore[arg-type]
    return refusal.problem if refusal else None


def test_the_agents_own_reply_is_acted_on() -> None:
    assert problem() is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"agent": None}, "unknown-agent"),
        ({"signed": False}, "unsigned"),
        ({"from_addr": "mallory@outside.example"}, "sender"),
        ({"envelope_sender": "mallory@outside.example"}, "envelope"),
        ({"envelope_sender": None}, "envelope"),
        ({"envelope_sender": ""}, "envelope"),  # the null sender
        ({"envelope_sender": "jan@contoso.example.evil.example"}, "envelope"),
        ({"authserv_id": "mx.contoso.example"}, "unauthenticated"),
        ({"fresh": False, "envelope_sender": "priya@contoso.example"}, "expired"),
        ({"fresh": False, "envelope_sender": None, "dkim_pass": True}, "expired"),
    ],
)
def test_refusals(changes: dict[str, object], expected: str) -> None:
    assert problem(**changes) == expected


def test_a_colleagues_envelope_at_the_agents_domain_is_accepted() -> None:
    """Exchange Online sends a shared mailbox's or a delegate's mail with another address of
    the partner's domain in MAIL FROM."""
    assert problem(envelope_sender="noreply@contoso.example") is None


def test_a_dkim_pass_of_the_trusted_mta_stands_for_the_envelope() -> None:
    assert problem(envelope_sender="mallory@outside.example", dkim_pass=True) is None
    assert (
        problem(
            authserv_id="mx.contoso.example",
            envelope_sender="bounces@forwarder.example",
            dkim_pass=True,
        )
        is None
    )


def test_an_expired_address_is_answerable_from_the_agents_own_envelope() -> None:
    assert problem(fresh=False) is None


def test_the_reason_names_the_envelope() -> None:
    refusal = refusal_of(dataclasses.replace(GOOD, envelope_sender="mallory@outside.example"))
    assert refusal is not None
    assert refusal.reason == (
        "its envelope sender is <mallory@outside.example>, not jan@contoso.example or "
        "another address at contoso.example"
    )
