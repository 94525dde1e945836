"""Who may run which `#command` on which ticket: the partner's GDAP-like roles.

Like GDAP roles for a CSP partner, each role includes the one before it: a helpdesk agent
answers and manages tickets, a service support admin may also escalate to Microsoft or the
provider, an admin agent may also forward to a support party and gets operational notices.
Pure: the caller says what is asked (each command's name, the least role it needs and what
its argument check found), this says whether it may be done.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ROLES = ("helpdesk-agent", "service-support-admin", "admin-agent")
ANSWER_ROLE = "helpdesk-agent"  # an answer relayed to the customer is a command too


def allows(roles: Iterable[str], least_role: str) -> bool:
    """Whether any of `roles` is `least_role` or a role above it."""
    needed = ROLES.index(least_role)
    return any(ROLES.index(role) >= needed for role in roles if role in ROLES)


@dataclass(frozen=True)
class Request:
    """One thing an agent's reply asks for."""

    name: str
    least_role: str | None  # None: no such command
    argument_problem: str | None = None  # what the command's argument check found


def refusal_for(
    roles: Sequence[str],
    may_act_on_customer: bool,
    customer_id: str | None,
    agent: str,
    requests: Sequence[Request],
    known: Iterable[str],
) -> str | None:
    """Why the reply's requests may not be carried out, or None. Nothing is done unless all
    may be: a reply is acted on whole or not at all."""
    if not may_act_on_customer:
        return f"{agent} may not act on customer {customer_id}"
    unknown = [r.name for r in requests if r.least_role is None]
    if unknown:
        names = ", ".join(f"#{name}" for name in sorted(known))
        return f"unknown command #{unknown[0]} (known: {names})"
    for request in requests:
        assert request.least_role is not None
        if not allows(roles, request.least_role):
            return f"your roles ({', '.join(roles)}) do not allow #{request.name}"
    for request in requests:
        if request.argument_problem:
            return f"#{request.name}: {request.argument_problem}"
    return None
