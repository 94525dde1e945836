"""gateway/processing/threader.py: which ticket a message belongs to, on a real SQLite store.

Order: signed reply address, then In-Reply-To/References, then the [TAG#N] subject tag (the tag
only for the ticket's own customer or requester).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from gateway.config import Config
from gateway.delivery.reply_address import UPSTREAM_TAG, agent_tag, signed_reply_address
from gateway.processing import tickets
from gateway.processing.threader import ThreadMatch, find_ticket, foreign_references
from gateway.store.batch import Batch
from gateway.store.engine import Store
from parsers.message import ParsedMessage, parse_message
from routing import Decision

HANDLE = Decision("handle", "helpdesk", "helpdesk", None)


@dataclass(frozen=True)
class Tickets:
    """Ticket numbers made by the `tickets_made` fixture."""

    fabrikam: int  # requester anna@fabrikam.example, first message <anna-1@fabrikam.example>
    adatum: int  # requester bob@adatum.example, messages <bob-1@…> and <bob-2@…>
    stranger: int  # no customer: requester someone@elsewhere.example


@pytest.fixture
def tickets_made(store: Store) -> Tickets:
    with store.session() as session:
        fabrikam = tickets.open_ticket(
            Batch.immediate(session), "Printer broken", "anna@fabrikam.example", "fabrikam", HANDLE
        )
        tickets.add_message(
            Batch.immediate(session),
            fabrikam,
            direction="in",
            kind="customer",
            from_addr="anna@fabrikam.example",
            to=["support@contoso.example"],
            subject="Printer broken",
            message_id="<anna-1@fabrikam.example>",
            text="It is broken.",
        )
        adatum = tickets.open_ticket(
            Batch.immediate(session), "Licences", "bob@adatum.example", "adatum", HANDLE
        )
        for number in (1, 2):
            tickets.add_message(
                Batch.immediate(session),
                adatum,
                direction="in",
                kind="customer",
                from_addr="bob@adatum.example",
                to=["support@contoso.example"],
                subject="Licences",
                message_id=f"<bob-{number}@adatum.example>",
                text="More licences.",
            )
        stranger = tickets.open_ticket(
            Batch.immediate(session), "Hello", "someone@elsewhere.example", None, HANDLE
        )
        return Tickets(fabrikam.number, adatum.number, stranger.number)


def message(
    *,
    sender: str = "anna@fabrikam.example",
    to: str = "support@contoso.example",
    subject: str = "A question",
    in_reply_to: str | None = None,
    references: str | None = None,
) -> ParsedMessage:
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        "Message-ID: <new@mail.example>",
    ]
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    return parse_message(("\r\n".join(lines) + "\r\n\r\nHello\r\n").encode())


def find(
    store: Store,
    config: Config,
    parsed: ParsedMessage,
    customer_id: str | None,
    envelope: Iterable[str] = ("support@contoso.example",),
    staff: bool = False,
) -> ThreadMatch | None:
    with store.session() as session:
        return find_ticket(Batch.immediate(session), parsed, envelope, customer_id, config, staff)


def test_new_mail_matches_no_ticket(store: Store, config: Config, tickets_made: Tickets) -> None:
    assert find(store, config, message(), "fabrikam") is None


def test_by_signed_reply_address_in_the_envelope(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    tag = agent_tag("jan@contoso.example")
    address = signed_reply_address(config, tickets_made.adatum, tag)

    match = find(store, config, message(sender="jan@contoso.example"), None, envelope=[address])

    assert match is not None
    assert (match.ticket.number, match.by, match.reply_tag) == (
        tickets_made.adatum,
        "reply_address",
        tag,
    )


def test_by_signed_reply_address_in_to(store: Store, config: Config, tickets_made: Tickets) -> None:
    address = signed_reply_address(config, tickets_made.fabrikam, UPSTREAM_TAG)

    match = find(store, config, message(to=address), "fabrikam")

    assert match is not None
    assert (match.ticket.number, match.by, match.reply_tag) == (
        tickets_made.fabrikam,
        "reply_address",
        UPSTREAM_TAG,
    )


def test_a_forged_reply_address_does_not_thread(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    address = signed_reply_address(config, tickets_made.fabrikam, UPSTREAM_TAG)
    forged = address.replace(f"+{tickets_made.fabrikam}.", f"+{tickets_made.adatum}.")

    assert find(store, config, message(sender="eve@evil.example", to=forged), None) is None


def test_a_signed_address_of_a_ticket_that_does_not_exist_does_not_thread(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    address = signed_reply_address(config, 9999, UPSTREAM_TAG)

    assert find(store, config, message(to=address), "fabrikam") is None


def test_by_in_reply_to(store: Store, config: Config, tickets_made: Tickets) -> None:
    parsed = message(sender="bob@adatum.example", in_reply_to="<bob-1@adatum.example>")

    match = find(store, config, parsed, "adatum")

    assert match is not None
    assert (match.ticket.number, match.by) == (tickets_made.adatum, "references")


def test_by_references(store: Store, config: Config, tickets_made: Tickets) -> None:
    parsed = message(references="<unknown@mail.example> <anna-1@fabrikam.example>")

    match = find(store, config, parsed, "fabrikam")

    assert match is not None
    assert (match.ticket.number, match.by) == (tickets_made.fabrikam, "references")


def test_in_reply_to_comes_before_references(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    parsed = message(
        sender="support@microsoft.com",
        in_reply_to="<bob-2@adatum.example>",
        references="<anna-1@fabrikam.example>",
    )

    match = find(store, config, parsed, None, staff=True)

    assert match is not None and match.ticket.number == tickets_made.adatum


def test_newest_reference_comes_first(store: Store, config: Config, tickets_made: Tickets) -> None:
    parsed = message(
        sender="support@microsoft.com",
        references="<anna-1@fabrikam.example> <bob-1@adatum.example>",
    )

    match = find(store, config, parsed, None, staff=True)

    assert match is not None and match.ticket.number == tickets_made.adatum


def test_by_subject_tag_for_the_requester(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    parsed = message(
        sender="someone@elsewhere.example", subject=f"RE: [contoso#{tickets_made.stranger}] Hello"
    )

    match = find(store, config, parsed, None)

    assert match is not None
    assert (match.ticket.number, match.by) == (tickets_made.stranger, "subject_tag")


def test_by_subject_tag_for_a_colleague_of_the_same_customer(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    parsed = message(
        sender="piet@fabrikam.example",
        subject=f"Re: [CONTOSO#{tickets_made.fabrikam}] Printer broken",
    )

    match = find(store, config, parsed, "fabrikam")

    assert match is not None
    assert (match.ticket.number, match.by) == (tickets_made.fabrikam, "subject_tag")


@pytest.mark.parametrize(
    ("sender", "customer_id"),
    [("bob@adatum.example", "adatum"), ("eve@evil.example", None)],
    ids=["other-customer", "unknown-sender"],
)
def test_a_stranger_using_someone_elses_tag_does_not_thread(
    store: Store, config: Config, tickets_made: Tickets, sender: str, customer_id: str | None
) -> None:
    parsed = message(sender=sender, subject=f"[CONTOSO#{tickets_made.fabrikam}] Printer broken")

    assert find(store, config, parsed, customer_id) is None


def test_upstream_and_agents_thread_by_the_tag_of_any_ticket(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    parsed = message(
        sender="support@microsoft.com", subject=f"RE: [CONTOSO#{tickets_made.fabrikam}]"
    )
    with store.session() as session:
        match = find_ticket(
            Batch.immediate(session), parsed, (), None, config, upstream_or_agent=True
        )
    assert match is not None and match.ticket.number == tickets_made.fabrikam


def test_a_stranger_cannot_use_the_tag_of_a_ticket_without_customer(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    parsed = message(sender="eve@evil.example", subject=f"[CONTOSO#{tickets_made.stranger}] Hi")

    assert find(store, config, parsed, None) is None


def test_the_tag_of_another_gateway_does_not_thread(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    parsed = message(subject=f"Re: [FABRIKAM#{tickets_made.fabrikam}] Printer broken")

    assert find(store, config, parsed, "fabrikam") is None


def test_reply_address_comes_before_references_and_subject_tag(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    address = signed_reply_address(config, tickets_made.stranger, UPSTREAM_TAG)
    parsed = message(
        to=address,
        in_reply_to="<bob-1@adatum.example>",
        subject=f"Re: [CONTOSO#{tickets_made.fabrikam}] Printer broken",
    )

    match = find(store, config, parsed, "fabrikam")

    assert match is not None
    assert (match.ticket.number, match.by) == (tickets_made.stranger, "reply_address")


def test_references_come_before_the_subject_tag(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    parsed = message(
        sender="support@microsoft.com",
        in_reply_to="<bob-1@adatum.example>",
        subject=f"Re: [CONTOSO#{tickets_made.fabrikam}] Printer broken",
    )

    match = find(store, config, parsed, None, staff=True)

    assert match is not None
    assert (match.ticket.number, match.by) == (tickets_made.adatum, "references")


@pytest.mark.parametrize(
    ("sender", "customer_id"),
    [("eve@fabrikam.example", "fabrikam"), ("eve@evil.example", None)],
    ids=["other-customer", "unknown-sender"],
)
def test_references_to_another_customers_ticket_do_not_thread(
    store: Store, config: Config, tickets_made: Tickets, sender: str, customer_id: str | None
) -> None:
    """A Fabrikam sender naming the Message-ID of an Adatum ticket's mail (issue 15)."""
    parsed = message(sender=sender, in_reply_to="<bob-1@adatum.example>")

    assert find(store, config, parsed, customer_id) is None
    with store.session() as session:
        foreign = foreign_references(Batch.immediate(session), parsed, customer_id)
        assert [t.number for t in foreign] == [tickets_made.adatum]


def test_a_foreign_reference_is_passed_over_for_the_customers_own(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    parsed = message(references="<anna-1@fabrikam.example> <bob-1@adatum.example>")

    match = find(store, config, parsed, "fabrikam")

    assert match is not None and match.ticket.number == tickets_made.fabrikam


def test_the_requester_of_a_ticket_without_customer_threads_by_references(
    store: Store, config: Config, tickets_made: Tickets
) -> None:
    with store.session() as session:
        stranger = tickets.ticket_numbered(session, tickets_made.stranger)
        assert stranger is not None
        tickets.add_message(
            Batch.immediate(session),
            stranger,
            direction="in",
            kind="customer",
            from_addr="someone@elsewhere.example",
            to=["support@contoso.example"],
            subject="Hello",
            message_id="<someone-1@elsewhere.example>",
            text="Hello.",
        )
    own = message(sender="someone@elsewhere.example", in_reply_to="<someone-1@elsewhere.example>")
    other = message(sender="eve@evil.example", in_reply_to="<someone-1@elsewhere.example>")

    match = find(store, config, own, None)
    assert match is not None and match.ticket.number == tickets_made.stranger
    assert find(store, config, other, None) is None
