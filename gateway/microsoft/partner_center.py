"""The Partner Center REST API as the gateway uses it: service requests (create, find, read,
add a note), their support topics, and the partner's customers.

Every request carries the headers of partner-center/developer/headers: Authorization (an
App+User token for service requests, partner-center/developer/partner-center-authentication),
Accept, MS-RequestId (new for each request), MS-CorrelationId (one per operation) and X-Locale.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from gateway.auth.microsoft import TokenSource
from gateway.microsoft.api import PermanentApiError, TemporaryApiError, call, field

# A customer page as large as Partner Center allows (get-a-list-of-customers caps `size`).
CUSTOMER_PAGE = 500
MAX_PAGES = 1000  # a paging loop must end even when the server keeps saying "next"


@dataclass(frozen=True)
class Note:
    by: str
    at: str  # as Partner Center wrote it (ISO 8601)
    text: str


@dataclass(frozen=True)
class ServiceRequest:
    """partner-center/developer/service-request-resources: ServiceRequest."""

    id: str
    title: str
    status: str  # none | open | closed | attention_needed
    notes: tuple[Note, ...]
    created: str


@dataclass(frozen=True)
class SupportTopic:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class PartnerCustomer:
    """partner-center/developer/customer-resources: Customer with its CustomerCompanyProfile."""

    tenant_id: str
    name: str
    domain: str  # the tenant's initial domain (…onmicrosoft.com)
    custom_domains: tuple[str, ...]
    relationship: str  # relationshipToPartner: none | reseller | advisor | ...


class PartnerCenter:
    def __init__(
        self,
        base_url: str,
        token: TokenSource,
        session: requests.Session,
        locale: str = "en-US",
    ) -> None:
        self.base = base_url.rstrip("/") + "/v1"
        self.token = token
        self.session = session
        self.locale = locale

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        headers = {
            "MS-RequestId": str(uuid.uuid4()),
            "MS-CorrelationId": str(uuid.uuid4()),
            "X-Locale": self.locale,
            **kwargs.pop("headers", {}),
        }
        return call(
            self.session, self.token, method, self.base + path, what, headers=headers, **kwargs
        )

    # --- service requests ---

    def create(self, body: Mapping[str, Any]) -> ServiceRequest:
        """partner-center/developer/create-a-service-request:
        POST /v1/servicerequests/{agent-locale} with Title, Description, Severity,
        SupportTopicId; the answer is the new ServiceRequest."""
        answer = self._call(
            "POST",
            f"/servicerequests/{self.locale}",
            "Partner Center: create service request",
            json=dict(body),
        )
        return _service_request(answer, "create service request")

    def find(self, title_start: str) -> ServiceRequest | None:
        """The partner's service request whose title begins with `title_start` (the ticket
        tag), newest first. GET /v1/servicerequests lists the partner's requests (the
        partner-level IPartnerServiceRequestCollection.Get of the Partner Center SDK; the
        customer-level form is get-all-service-requests-for-a-customer)."""
        answer = self._call("GET", "/servicerequests", "Partner Center: list service requests")
        found = [
            _service_request(item, "list service requests")
            for item in _items(answer, "list service requests")
        ]
        matching = [sr for sr in found if sr.title.startswith(title_start)]
        return max(matching, key=lambda sr: sr.created, default=None)

    def get(self, request_id: str) -> ServiceRequest:
        """partner-center/developer/get-service-request-details-by-id."""
        answer = self._call(
            "GET", f"/servicerequests/{request_id}", f"Partner Center: read {request_id}"
        )
        return _service_request(answer, f"read {request_id}")

    def add_note(self, request_id: str, text: str) -> None:
        """partner-center/developer/update-a-service-request: PATCH with only what changes,
        here NewNote (a ServiceRequestNote: Text)."""
        self._call(
            "PATCH",
            f"/servicerequests/{request_id}",
            f"Partner Center: add a note to {request_id}",
            json={"NewNote": {"Text": text}},
        )

    def support_topics(self) -> list[SupportTopic]:
        """partner-center/developer/get-service-request-support-topics."""
        answer = self._call(
            "GET", "/servicerequests/supporttopics", "Partner Center: support topics"
        )
        return [
            SupportTopic(
                id=str(field(item, "id", "")),
                name=str(field(item, "name", "")),
                description=str(field(item, "description", "")),
            )
            for item in _items(answer, "support topics")
        ]

    # --- customers ---

    def customers(self) -> list[PartnerCustomer]:
        """partner-center/developer/get-a-list-of-customers: GET /v1/customers?size=N, then
        each `links.next` with the MS-ContinuationToken header it names."""
        return [_customer(item) for item in self._customer_items()]

    def _customer_items(self) -> Iterator[Mapping[str, Any]]:
        path, headers = f"/customers?size={CUSTOMER_PAGE}", dict[str, str]()
        for _ in range(MAX_PAGES):
            answer = self._call("GET", path, "Partner Center: list customers", headers=headers)
            yield from _items(answer, "list customers")
            following = _next_link(answer)
            if following is None:
                return
            path, headers = following
        raise TemporaryApiError("Partner Center: list customers: paging did not end")


def _items(answer: Any, what: str) -> list[Mapping[str, Any]]:
    items = field(answer, "items") if isinstance(answer, Mapping) else None
    if not isinstance(items, list):
        raise PermanentApiError(f"Partner Center: {what}: no items in the answer")
    return [item for item in items if isinstance(item, Mapping)]


def _next_link(answer: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    links = field(answer, "links") or {}
    following = field(links, "next") if isinstance(links, Mapping) else None
    if not isinstance(following, Mapping) or not field(following, "uri"):
        return None
    uri = str(field(following, "uri"))
    headers = {
        str(field(h, "key")): str(field(h, "value"))
        for h in field(following, "headers") or []
        if isinstance(h, Mapping)
    }
    # The link is relative to the version: "/customers?size=40&seekOperation=next".
    return (uri if uri.startswith("/") else "/" + uri), headers


def _service_request(data: Any, what: str) -> ServiceRequest:
    if not isinstance(data, Mapping) or not field(data, "id"):
        raise PermanentApiError(f"Partner Center: {what}: no service request in the answer")
    notes = field(data, "notes") or []
    return ServiceRequest(
        id=str(field(data, "id")),
        title=str(field(data, "title", "")),
        status=str(field(data, "status", "none")).lower(),
        notes=tuple(
            Note(
                by=str(field(note, "createdByName", "")),
                at=str(field(note, "createdDate", "")),
                text=str(field(note, "text", "")),
            )
            for note in notes
            if isinstance(note, Mapping)
        ),
        created=str(field(data, "createdDate", "")),
    )


def _customer(item: Mapping[str, Any]) -> PartnerCustomer:
    profile = field(item, "companyProfile") or {}
    tenant = str(field(profile, "tenantId") or field(item, "id") or "")
    domains = field(item, "customDomains") or []
    return PartnerCustomer(
        tenant_id=tenant.lower(),
        name=str(field(profile, "companyName", "")).strip(),
        domain=str(field(profile, "domain", "")).strip().lower(),
        custom_domains=tuple(str(d).strip().lower() for d in domains if str(d).strip()),
        relationship=str(field(item, "relationshipToPartner", "none")),
    )
