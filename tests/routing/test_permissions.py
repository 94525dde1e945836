"""routing/permissions.py: the GDAP-like roles and which requests of a reply may be done."""

from __future__ import annotations

import pytest

from routing.permissions import ROLES, Request, allows, refusal_for

HELPDESK, SUPPORT_ADMIN, ADMIN = ROLES


@pytest.mark.parametrize(
    ("roles", "least", "allowed"),
    [
        ([HELPDESK], HELPDESK, True),
        ([HELPDESK], SUPPORT_ADMIN, False),
        ([HELPDESK], ADMIN, False),
        ([SUPPORT_ADMIN], HELPDESK, True),
        ([SUPPORT_ADMIN], SUPPORT_ADMIN, True),
        ([SUPPORT_ADMIN], ADMIN, False),
        ([ADMIN], SUPPORT_ADMIN, True),
        ([HELPDESK, ADMIN], ADMIN, True),
        ([], HELPDESK, False),
        (["global-admin"], HELPDESK, False),  # not a role of ours
    ],
)
def test_each_role_includes_the_one_before(roles: list[str], least: str, allowed: bool) -> None:
    assert allows(roles, least) is allowed


def refusal(
    *requests: Request, roles: tuple[str, ...] = (HELPDESK,), may_act: bool = True
) -> str | None:
    known = ("close", "escalate", "forward", "note")
    return refusal_for(roles, may_act, "fabrikam", "jan@contoso.example", requests, known)


def test_allowed_requests_pass() -> None:
    assert refusal(Request("close", HELPDESK), Request("answer", HELPDESK)) is None


@pytest.mark.parametrize(
    ("requests", "roles", "may_act", "reason"),
    [
        (
            [Request("close", HELPDESK)],
            (ADMIN,),
            False,
            "jan@contoso.example may not act on customer fabrikam",
        ),
        (
            [Request("clsoe", None)],
            (ADMIN,),
            True,
            "unknown command #clsoe (known: #close, #escalate, #forward, #note)",
        ),
        (
            [Request("close", HELPDESK), Request("escalate", SUPPORT_ADMIN)],
            (HELPDESK,),
            True,
            "your roles (helpdesk-agent) do not allow #escalate",
        ),
        (
            [Request("forward", ADMIN, "no party 'tailspin'")],
            (ADMIN,),
            True,
            "#forward: no party 'tailspin'",
        ),
        (
            # The role is checked before the argument: a helpdesk agent learns nothing of parties.
            [Request("forward", ADMIN, "no party 'tailspin'")],
            (SUPPORT_ADMIN,),
            True,
            "your roles (service-support-admin) do not allow #forward",
        ),
    ],
)
def test_refusals(
    requests: list[Request], roles: tuple[str, ...], may_act: bool, reason: str
) -> None:
    assert refusal(*requests, roles=roles, may_act=may_act) == reason
