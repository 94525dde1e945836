"""The Microsoft clients as [microsoft] configures them: one place that turns the settings into
an Entra ID app, token sources and API clients."""

from __future__ import annotations

from gateway.auth.microsoft import AppToken, EntraApp, http_session, scope_of
from gateway.auth.partner_center_sign_in import UserToken
from gateway.config import Microsoft
from gateway.microsoft.graph import Graph
from gateway.microsoft.partner_center import PartnerCenter


def entra_app(microsoft: Microsoft) -> EntraApp:
    return EntraApp(
        tenant_id=microsoft.tenant_id,
        client_id=microsoft.client_id,
        client_secret=microsoft.client_secret,
        certificate_file=microsoft.certificate_file,
        certificate_password=microsoft.certificate_password,
        authority=microsoft.authority,
        ca_file=microsoft.ca_file,
        timeout=microsoft.timeout.total_seconds(),
    )


def partner_center_scope(microsoft: Microsoft) -> str:
    # https://api.partnercenter.microsoft.com/user_impersonation (partner-center-authentication)
    return scope_of(microsoft.partner_center_url, "user_impersonation")


def partner_center(microsoft: Microsoft) -> PartnerCenter:
    app = entra_app(microsoft)
    assert microsoft.token_file is not None
    token = UserToken(app, partner_center_scope(microsoft), microsoft.token_file)
    session = http_session(app.ca_file, app.timeout)
    return PartnerCenter(microsoft.partner_center_url, token, session, microsoft.locale)


def graph(microsoft: Microsoft) -> Graph:
    return Graph(
        microsoft.graph_url, http_session(microsoft.ca_file, microsoft.timeout.total_seconds())
    )


def graph_token(microsoft: Microsoft, tenant: str | None = None) -> AppToken:
    """App-only, for the partner's tenant or a customer's (ServiceHealth.Read.All)."""
    scope = scope_of(microsoft.graph_url, ".default")
    return AppToken(entra_app(microsoft), scope, tenant=tenant, key="microsoft.graph_url")
