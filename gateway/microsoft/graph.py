"""Microsoft Graph as the gateway uses it: a tenant's service health issues.

graph/api/serviceannouncement-list-issues: GET /admin/serviceAnnouncement/issues, application
permission ServiceHealth.Read.All (an app-only token for the tenant asked about; a customer's
tenant gives one once it has consented to the partner's app through GDAP). The answer is a
serviceHealthIssue collection (graph/api/resources/servicehealthissue) in `value`, continued by
`@odata.nextLink` (graph/paging). routing/service_health_sources.py reads the entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from gateway.auth.microsoft import TokenSource
from gateway.microsoft.api import PermanentApiError, TemporaryApiError, call

MAX_PAGES = 100


class Graph:
    def __init__(self, base_url: str, session: requests.Session) -> None:
        self.base = base_url.rstrip("/") + "/v1.0"
        self.session = session

    def service_issues(self, token: TokenSource, tenant: str) -> list[dict[str, Any]]:
        """Every issue Graph lists for the token's tenant, all pages."""
        url = f"{self.base}/admin/serviceAnnouncement/issues"
        what = f"Graph: service health of {tenant}"
        issues: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            answer = call(self.session, token, "GET", url, what)
            if not isinstance(answer, Mapping) or not isinstance(answer.get("value"), list):
                raise PermanentApiError(f"{what}: no value in the answer")
            issues.extend(item for item in answer["value"] if isinstance(item, dict))
            following = answer.get("@odata.nextLink")
            if not following:
                return issues
            # graph/paging: the link is used as it is, with the same authorization.
            url = str(following)
        raise TemporaryApiError(f"{what}: paging did not end")
