"""What the daemon asks Microsoft every `microsoft.poll`, one daemon at a time among those
sharing a PostgreSQL database: the open service requests (gateway/delivery/service_request_news.py),
the service health of the partner's tenant and of each customer with `graph_tenant = true`, and
whether the kept Partner Center sign-in still works (renewed daily, so that its refresh token
never ends unused; the admin-agents are warned before it would and when it is refused)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from gateway.auth.microsoft import AppToken, TokenRefused
from gateway.auth.partner_center_sign_in import UserToken, read_sign_in
from gateway.auth.tokens import TokenError
from gateway.config import Config
from gateway.delivery.templates import Templates
from gateway.logs import log_event
from gateway.microsoft import clients
from gateway.microsoft.api import ApiError, SignInRefused
from gateway.microsoft.partner_center import PartnerCenter
from gateway.processing.service_health import PARTNER_SCOPE
from gateway.store.engine import Store
from gateway.store.models import ServiceHealthSnapshot, utcnow
from routing.service_requests import sign_in_warning

log = logging.getLogger("gateway.microsoft.polls")

KEEP_ALIVE = timedelta(days=1)  # the refresh token is redeemed at least this often
Tell = Callable[[str, str, str], object]


class MicrosoftPolls:
    def __init__(self, store: Store, config: Config, templates: Templates, tell: Tell) -> None:
        self.store = store
        self.config = config
        self.templates = templates
        self.tell = tell
        self._partner_center: PartnerCenter | None = None
        self._graph_tokens: dict[str, AppToken] = {}
        self._failing: dict[str, str] = {}  # what failed at the last poll, logged once

    def run(self) -> int:
        """One round; how many service requests brought news for the agents."""
        microsoft = self.config.microsoft
        told = 0
        if microsoft.escalation == "partner_center":
            told = self._service_requests()
        if microsoft.signs_in:
            self._service_health()
        return told

    # --- Partner Center ---

    def partner_center(self) -> PartnerCenter:
        if self._partner_center is None:
            self._partner_center = clients.partner_center(self.config.microsoft)
        return self._partner_center

    def _service_requests(self) -> int:
        from gateway.delivery import service_request_news

        if not self._signed_in():
            return 0
        try:
            return service_request_news.poll_open(
                self.store,
                self.config,
                self.templates,
                self.partner_center(),
                self._failed,
                self._recovered,
            )
        except SignInRefused as exc:
            self._refused(str(exc))
            return 0

    def _signed_in(self) -> bool:
        """The kept sign-in: renewed once a day, warned of before it ends, told when refused."""
        token_file = self.config.microsoft.token_file
        assert token_file is not None
        try:
            sign_in = read_sign_in(token_file)
        except TokenError as exc:
            self._refused(str(exc))
            return False
        if sign_in is None:
            self._refused(f"no Partner Center sign-in is kept in {token_file}")
            return False
        now = utcnow()
        if now - sign_in.refreshed_at >= KEEP_ALIVE:
            self._keep_alive()
            sign_in = read_sign_in(token_file) or sign_in
        warning = sign_in_warning(sign_in.refreshed_at, now)
        if warning:
            self.tell("microsoft-sign-in-ageing", "the Partner Center sign-in ends soon", warning)
        return True

    def _keep_alive(self) -> None:
        token = self.partner_center().token
        assert isinstance(token, UserToken)
        try:
            token.renew()
        except TokenRefused as exc:
            self._refused(str(exc))
        except TokenError as exc:  # temporary: tried again at the next poll
            self._failed("sign-in", str(exc))

    def _refused(self, why: str) -> None:
        text = (
            f"gatewayd cannot sign in to Partner Center: {why}\n\n"
            "Escalations wait in the queue and go by e-mail after microsoft.give_up_after; "
            "Microsoft's replies to open service requests are not read meanwhile.\n"
            "Run `gatewayd microsoft login` on the gateway's host to sign in again."
        )
        self._failed("sign-in", why)
        self.tell("microsoft-sign-in", "the Partner Center sign-in was refused", text)

    # --- Graph service health ---

    def _service_health(self) -> None:
        scopes = [(PARTNER_SCOPE, self.config.microsoft.tenant_id)]
        scopes += [(c.id, c.tenant) for c in self.config.customers if c.graph_tenant]
        graph = clients.graph(self.config.microsoft)
        for scope, tenant in scopes:
            token = self._graph_tokens.get(tenant)
            if token is None:
                token = self._graph_tokens[tenant] = clients.graph_token(
                    self.config.microsoft, tenant
                )
            try:
                issues = graph.service_issues(token, tenant)
            except (ApiError, TokenError) as exc:
                self._failed(f"health:{scope}", str(exc))
                continue
            self._recovered(f"health:{scope}")
            with self.store.session() as session:
                _keep_snapshot(session, scope, issues, utcnow())

    def _failed(self, what: str, error: str) -> None:
        if self._failing.get(what) != error:
            log_event(log, "microsoft.poll_failed", level=logging.WARNING, what=what, error=error)
            self._failing[what] = error

    def _recovered(self, what: str) -> None:
        if self._failing.pop(what, None) is not None:
            log_event(log, "microsoft.poll_recovered", what=what)


def _keep_snapshot(
    session: Session, scope: str, issues: list[dict[str, object]], at: datetime
) -> None:
    row = session.get(ServiceHealthSnapshot, scope)
    if row is None:
        session.add(ServiceHealthSnapshot(scope=scope, fetched_at=at, issues=issues))
    else:
        row.fetched_at, row.issues = at, issues
