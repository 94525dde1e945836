"""The Partner Center and Graph clients against the HTTPS stand-in: the requests they send
(checked against the shapes of the Microsoft Learn pages) and what they make of the answers
and of the failures."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.auth.microsoft import AppToken, EntraApp, http_session
from gateway.auth.partner_center_sign_in import UserToken, device_login
from gateway.microsoft.api import ApiTimeout, PermanentApiError, SignInRefused, TemporaryApiError
from gateway.microsoft.graph import Graph
from gateway.microsoft.partner_center import PartnerCenter
from routing.service_requests import draft
from tests.e2e.microsoft_standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    PARTNER_TENANT,
    MicrosoftStandIn,
)


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[MicrosoftStandIn]:
    server = MicrosoftStandIn(tmp_path / "standin")
    server.start()
    yield server
    server.close()


def entra(standin: MicrosoftStandIn, timeout: float = 5.0) -> EntraApp:
    return EntraApp(
        tenant_id=PARTNER_TENANT,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        certificate_file=None,
        certificate_password="",
        authority=standin.url,
        ca_file=standin.ca_file,
        timeout=timeout,
    )


@pytest.fixture
def partner_center(standin: MicrosoftStandIn, tmp_path: Path) -> PartnerCenter:
    return partner_center_for(standin, tmp_path, timeout=5.0)


def partner_center_for(standin: MicrosoftStandIn, tmp_path: Path, timeout: float) -> PartnerCenter:
    token_file = tmp_path / "token.json"
    scope = f"{standin.partner_center_url}/user_impersonation"
    said: list[str] = []

    def approve() -> None:
        while not said:
            time.sleep(0.02)
        standin.approve_device_code()

    approver = threading.Thread(target=approve)
    approver.start()
    device_login(entra(standin), scope, token_file, said.append, wait_seconds=10)
    approver.join()
    app = entra(standin, timeout)
    token = UserToken(app, scope, token_file)
    return PartnerCenter(
        standin.partner_center_url, token, http_session(app.ca_file, app.timeout), "nl-NL"
    )


def a_draft() -> dict[str, object]:
    return draft(
        tag="[CONTOSO#1042]",
        subject="Teams is down for everyone",
        customer="Fabrikam BV",
        tenant="fabrikam.onmicrosoft.com",
        category="Service unavailable",
        priority="urgent",
        text="Since 9:00 nobody can join a meeting.",
        topics={"Service unavailable": "32569836"},
    ).body()


def test_a_service_request_is_created_with_the_documented_body_and_headers(
    standin: MicrosoftStandIn, partner_center: PartnerCenter
) -> None:
    created = partner_center.create(a_draft())
    assert created.id and created.status == "open"
    assert created.title.startswith("[CONTOSO#1042]")
    (sent,) = standin.recorded("POST", r"/v1/servicerequests/")
    # create-a-service-request: POST /v1/servicerequests/{agent-locale}
    assert sent.path == "/partnercenter/v1/servicerequests/nl-NL"
    assert sent.json == {
        "Title": "[CONTOSO#1042] Service unavailable: Teams is down for everyone",
        "Description": "Customer: Fabrikam BV\nTenant: fabrikam.onmicrosoft.com\n"
        "Category: Service unavailable\n\nSince 9:00 nobody can join a meeting.",
        "Severity": "critical",
        "SupportTopicId": "32569836",
    }
    # headers: Authorization with an App+User token, Accept, MS-RequestId, MS-CorrelationId
    assert sent.headers["Authorization"].startswith("Bearer standin-")
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["Content-Type"] == "application/json"
    uuid.UUID(sent.headers["MS-RequestId"])
    uuid.UUID(sent.headers["MS-CorrelationId"])
    assert sent.headers["X-Locale"] == "nl-NL"


def test_find_get_and_a_note(standin: MicrosoftStandIn, partner_center: PartnerCenter) -> None:
    created = partner_center.create(a_draft())
    assert partner_center.find("[CONTOSO#1042]") == created
    assert partner_center.find("[CONTOSO#1043]") is None
    standin.add_note(created.id, "Please send a network trace.")
    standin.set_status(created.id, "attention_needed")
    read = partner_center.get(created.id)
    assert read.status == "attention_needed"
    assert [(n.by, n.text) for n in read.notes] == [
        ("Microsoft Support", "Please send a network trace.")
    ]
    partner_center.add_note(created.id, "Trace attached to the portal.")
    (patch,) = standin.recorded("PATCH", r"/v1/servicerequests/")
    # update-a-service-request: only the change, NewNote.Text
    assert patch.path == f"/partnercenter/v1/servicerequests/{created.id}"
    assert patch.json == {"NewNote": {"Text": "Trace attached to the portal."}}
    assert partner_center.get(created.id).notes[-1].text == "Trace attached to the portal."


def test_support_topics(standin: MicrosoftStandIn, partner_center: PartnerCenter) -> None:
    topics = partner_center.support_topics()
    assert ("32569836", "Service unavailable") in [(t.id, t.name) for t in topics]
    (sent,) = standin.recorded("GET", r"/supporttopics$")
    assert sent.path == "/partnercenter/v1/servicerequests/supporttopics"


def test_customers_follow_the_continuation_token(
    standin: MicrosoftStandIn, partner_center: PartnerCenter
) -> None:
    for n in range(5):
        standin.add_customer(
            f"0000000{n}-aaaa-4bbb-8ccc-000000000000",
            f"Customer {n}",
            f"customer{n}.onmicrosoft.com",
            f"customer{n}.example",
        )
    customers = partner_center.customers()
    assert [c.name for c in customers] == [f"Customer {n}" for n in range(5)]
    assert customers[0].domain == "customer0.onmicrosoft.com"
    assert customers[0].custom_domains == ("customer0.example",)
    assert customers[0].relationship == "reseller"
    pages = standin.recorded("GET", r"/v1/customers$")
    assert len(pages) == 3  # two per page in the stand-in
    assert "MS-ContinuationToken" not in pages[0].headers
    assert pages[1].headers["MS-ContinuationToken"] == "2"
    assert pages[1].query["seekOperation"] == ["next"]


def test_a_timeout_is_its_own_kind_and_the_request_was_made(
    standin: MicrosoftStandIn, tmp_path: Path
) -> None:
    partner_center = partner_center_for(standin, tmp_path, timeout=1.0)
    standin.fault("POST", r"/v1/servicerequests/", "timeout", delay=2.0)
    with pytest.raises(ApiTimeout):
        partner_center.create(a_draft())
    time.sleep(1.2)
    assert partner_center.find("[CONTOSO#1042]") is not None  # Microsoft has it after all


def test_failures_are_temporary_or_permanent(
    standin: MicrosoftStandIn, partner_center: PartnerCenter
) -> None:
    standin.fault("POST", r"/v1/servicerequests/", "unavailable")
    with pytest.raises(TemporaryApiError, match="HTTP 503"):
        partner_center.create(a_draft())
    body = a_draft() | {"SupportTopicId": "1"}
    with pytest.raises(PermanentApiError, match="HTTP 400 unknown SupportTopicId"):
        partner_center.create(body)
    standin.stop()
    with pytest.raises(TemporaryApiError) as down:
        partner_center.get("616122292874576")
    assert not isinstance(down.value, PermanentApiError)


def test_a_revoked_sign_in_is_temporary_but_told_as_such(
    standin: MicrosoftStandIn, partner_center: PartnerCenter
) -> None:
    standin.revoke_refresh_tokens()
    partner_center.token.invalidate()
    with pytest.raises(SignInRefused, match="gatewayd microsoft login"):
        partner_center.support_topics()


def test_graph_service_issues_of_a_customer_tenant_only(standin: MicrosoftStandIn) -> None:
    fabrikam = "6a1f0c55-1111-4222-8333-444455556666"
    standin.add_tenant(fabrikam, "fabrikam.onmicrosoft.com")
    for n in range(3):
        standin.add_issue("fabrikam.onmicrosoft.com", id=f"EX{n}", title=f"Issue {n}")
    standin.add_issue(PARTNER_TENANT, id="TM1", title="Teams calls drop")
    app = entra(standin)
    graph = Graph(standin.graph_url, http_session(app.ca_file, app.timeout))
    scope = f"{standin.graph_url}/.default"
    token = AppToken(app, scope, tenant="fabrikam.onmicrosoft.com")
    issues = graph.service_issues(token, "fabrikam.onmicrosoft.com")
    assert [i["id"] for i in issues] == ["EX0", "EX1", "EX2"]  # two pages
    pages = standin.recorded("GET", r"/serviceAnnouncement/issues$")
    assert [p.path for p in pages] == ["/graph/v1.0/admin/serviceAnnouncement/issues"] * 2
    partner = graph.service_issues(AppToken(app, scope), "partner")
    assert [i["id"] for i in partner] == ["TM1"]
    grants = [r for r in standin.recorded("POST", r"/token$")]
    assert [g.path.split("/")[1] for g in grants] == [fabrikam, PARTNER_TENANT]
    assert {g.form["scope"] for g in grants} == {scope}
