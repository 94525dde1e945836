"""A local stand-in of the Microsoft endpoints gatewayd calls: Entra ID (OpenID metadata, the
token endpoint with client credentials, device code and refresh tokens), Partner Center (service
requests, support topics, customers) and Microsoft Graph (service health issues).

It is a real HTTPS server on 127.0.0.1 and a free port, with a private CA made at start (the
`cryptography` library), so the client's `ca_file` handling is exercised as in a sovereign cloud
or behind a TLS-inspecting proxy. It follows the request and response shapes of the Microsoft
Learn pages cited at each handler, records every request (`requests`) so that tests can check
what gatewayd sent, and can be told to fail (`fault`, `stop`) the ways the real ones do.

Layout on the one port: Entra ID at the root (`authority = url`: MSAL takes the first path
segment as the tenant), Partner Center under `/partnercenter` (`partner_center_url`), Graph under
`/graph` (`graph_url`). A plain-HTTP side listener answers RFC 7662 token introspection for
Dovecot's oauth2 passdb, which stands in for Exchange Online's own check of the token.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import itertools
import json
import re
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.e2e.ports import free_port

PARTNER_TENANT = "8f5b1c2e-0d1a-4e57-9b0c-2a6f0e5d7c11"
PARTNER_DOMAIN = "contoso.onmicrosoft.com"
CLIENT_ID = "0b9a6d3e-5c1f-4a8e-b2d7-6e4f1a9c3b20"
CLIENT_SECRET = "standin-client-secret-value"
PC_PREFIX, GRAPH_PREFIX = "/partnercenter", "/graph"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


@dataclass
class Issued:
    """An access token the stand-in gave out (opaque to the client, as the docs say to treat
    them)."""

    tenant: str
    scope: str
    app_only: bool
    expires_at: float
    user: str | None = None


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    kind: str  # "timeout": done, answered too late; "unavailable": 503, nothing done
    times: int
    delay: float = 5.0


@dataclass
class Tenant:
    id: str
    domains: tuple[str, ...]
    consented: bool = True  # the partner's app may get app-only tokens here (GDAP consent)
    issues: list[dict[str, Any]] = field(default_factory=list)


class MicrosoftStandIn:
    def __init__(self, home: Path, *, token_lifetime: int = 3600) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.token_lifetime = token_lifetime
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.tenants: dict[str, Tenant] = {}
        self.add_tenant(PARTNER_TENANT, PARTNER_DOMAIN)
        self.client_secret = CLIENT_SECRET
        self.certificates: list[x509.Certificate] = []  # registered on the app
        self.tokens: dict[str, Issued] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.device_codes: dict[str, dict[str, Any]] = {}
        self.mailboxes: set[str] = set()  # that the app may open (Exchange's app permission)
        self.mailbox_tokens: dict[str, str] = {}  # token -> mailbox, of the tests' own clients
        self.service_requests: dict[str, dict[str, Any]] = {}
        self.support_topics: list[dict[str, Any]] = [
            _topic(32569836, "Service unavailable", "A Microsoft service is down"),
            _topic(32444667, "Partner Center Issues", "Questions on Partner Center"),
        ]
        self.customers: list[dict[str, Any]] = []
        self.customer_page_size = 2  # small, so paging by continuation token is exercised
        self.issue_page_size = 2
        self.faults: list[Fault] = []
        self._ids = itertools.count(616122292874576)
        self._make_certificates()
        self._server: ThreadingHTTPServer | None = None
        self._introspection: ThreadingHTTPServer | None = None
        self.introspection_port = free_port()

    # --- what tests set up ---

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def partner_center_url(self) -> str:
        return self.url + PC_PREFIX

    @property
    def graph_url(self) -> str:
        return self.url + GRAPH_PREFIX

    @property
    def introspection_url(self) -> str:
        return f"http://127.0.0.1:{self.introspection_port}/introspect"

    def add_tenant(self, tenant_id: str, *domains: str, consented: bool = True) -> Tenant:
        tenant = Tenant(tenant_id, domains, consented)
        self.tenants[tenant_id] = tenant
        return tenant

    def tenant(self, name: str) -> Tenant | None:
        """By id or by any of its domains, as the authority accepts either."""
        for tenant in self.tenants.values():
            if name.lower() == tenant.id or name.lower() in tenant.domains:
                return tenant
        return None

    def add_issue(self, tenant: str, **issue: Any) -> dict[str, Any]:
        """A serviceHealthIssue as Graph returns it (resources/servicehealthissue)."""
        entry: dict[str, Any] = {
            "startDateTime": "2026-01-01T08:00:00Z",
            "endDateTime": None,
            "lastModifiedDateTime": "2026-01-01T09:00:00Z",
            "title": "Users can't send mail",
            "id": f"EX{len(self.requests)}{secrets.randbelow(10**6)}",
            "impactDescription": "Users may be unable to send mail.",
            "classification": "incident",
            "origin": "microsoft",
            "status": "investigating",
            "service": "Exchange Online",
            "feature": "E-Mail and calendar access",
            "featureGroup": "E-Mail and calendar access",
            "isResolved": False,
            "highImpact": None,
            "details": [],
            "posts": [],
        }
        entry.update(issue)
        found = self.tenant(tenant)
        assert found is not None, tenant
        found.issues.append(entry)
        return entry

    def add_customer(
        self,
        tenant_id: str,
        name: str,
        domain: str,
        *custom_domains: str,
        relationship: str = "reseller",
    ) -> dict[str, Any]:
        """A Customer resource (partner-center/developer/customer-resources)."""
        customer = {
            "id": tenant_id,
            "commerceId": str(uuid.uuid4()),
            "companyProfile": {
                "tenantId": tenant_id,
                "domain": domain,
                "companyName": name,
                "attributes": {"objectType": "CustomerCompanyProfile"},
            },
            "relationshipToPartner": relationship,
            "customDomains": list(custom_domains),
            "attributes": {"objectType": "Customer"},
        }
        self.customers.append(customer)
        return customer

    def add_certificate(self, certificate: x509.Certificate) -> None:
        self.certificates.append(certificate)

    def fault(self, method: str, path: str, kind: str, times: int = 1, delay: float = 5.0) -> None:
        """The next `times` requests of `method` to a path matching `path` fail as `kind`."""
        with self.lock:
            self.faults.append(Fault(method, re.compile(path), kind, times, delay))

    def approve_device_code(self, user: str = "admin@contoso.onmicrosoft.com") -> str:
        """The admin opens the verification page and types the code: the pending one."""
        with self.lock:
            pending = [code for code, flow in self.device_codes.items() if not flow["user"]]
            assert pending, "no device code is waiting"
            self.device_codes[pending[-1]]["user"] = user
            return str(self.device_codes[pending[-1]]["user_code"])

    def revoke_refresh_tokens(self, access_tokens: bool = False) -> None:
        """As after 90 days unused, a password reset or an admin's revocation; with
        `access_tokens`, the users' access tokens end too (as they do within the hour)."""
        with self.lock:
            self.refresh_tokens.clear()
            if access_tokens:
                self.tokens = {k: v for k, v in self.tokens.items() if v.app_only}

    def set_status(self, request_id: str, status: str) -> None:
        with self.lock:
            self.service_requests[request_id]["status"] = status
            self.service_requests[request_id]["lastModifiedDate"] = _now()

    def add_note(self, request_id: str, text: str, by: str = "Microsoft Support") -> None:
        with self.lock:
            note = {"createdByName": by, "createdDate": _now(), "text": text}
            self.service_requests[request_id]["notes"].append(note)
            self.service_requests[request_id]["lastModifiedDate"] = _now()

    def introspect(self, token: str) -> str | None:
        """The mailbox an Exchange token may open (RFC 7662 `username`), or None."""
        with self.lock:
            if token in self.mailbox_tokens:
                return self.mailbox_tokens[token]
            issued = self.tokens.get(token)
            if issued is None or issued.expires_at < time.time() or not issued.app_only:
                return None
            if not issued.scope.endswith("/.default") or not self.mailboxes:
                return None
            return sorted(self.mailboxes)[0]

    def recorded(self, method: str, path: str) -> list[Recorded]:
        pattern = re.compile(path)
        with self.lock:
            return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    # --- running ---

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.home / "server.pem", self.home / "server-key.pem")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        if self._introspection is None:
            introspection = ThreadingHTTPServer(
                ("127.0.0.1", self.introspection_port), _introspection_handler(self)
            )
            introspection.daemon_threads = True
            self._introspection = introspection
            threading.Thread(target=introspection.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        """Down: connections are refused until start() again (on the same port, same state)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.stop()
        if self._introspection is not None:
            self._introspection.shutdown()
            self._introspection.server_close()
            self._introspection = None

    @property
    def ca_file(self) -> Path:
        return self.home / "ca.pem"

    def _make_certificates(self) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatewayd test CA")])
        now = datetime.datetime.now(datetime.UTC)
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        server = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        (self.home / "ca.pem").write_bytes(ca.public_bytes(pem))
        (self.home / "server.pem").write_bytes(server.public_bytes(pem))
        (self.home / "server-key.pem").write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )


def app_certificate(path: Path) -> x509.Certificate:
    """A self-signed certificate with its RSA key in one PEM file, as an admin uploads to the
    app registration ("Certificates & secrets") and keeps the key for `certificate_file`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatewayd")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(private + certificate.public_bytes(pem))
    return certificate


def _topic(ident: int, name: str, description: str) -> dict[str, Any]:
    # partner-center/developer/get-service-request-support-topics: the id is a number.
    return {
        "name": name,
        "description": description,
        "id": ident,
        "attributes": {"objectType": "SupportTopic"},
    }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Answer(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


Route = tuple[str, re.Pattern[str], Callable[..., Any]]


def _handler(standin: MicrosoftStandIn) -> type[BaseHTTPRequestHandler]:
    api = _Api(standin)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorded = Recorded(
                method, parts.path, parse_qs(parts.query), dict(self.headers.items()), body
            )
            with standin.lock:
                standin.requests.append(recorded)
                fault = _take_fault(standin, method, parts.path)
            if fault is not None and fault.kind == "unavailable":
                self._answer(503, {"code": 503, "description": "Service unavailable"})
                return
            try:
                status, answer, headers = 200, api.route(recorded), {}
            except _Answer as exc:
                status, answer, headers = exc.status, exc.body, exc.headers
            if fault is not None and fault.kind == "timeout":
                time.sleep(fault.delay)  # the work is done; the client gave up waiting
            self._answer(status, answer, headers)

        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")  # stop() must not leave live sessions
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (TimeoutError, BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # the client timed out and went away
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _take_fault(standin: MicrosoftStandIn, method: str, path: str) -> Fault | None:
    for fault in standin.faults:
        if fault.times > 0 and fault.method == method and fault.path.search(path):
            fault.times -= 1
            return fault
    return None


class _Api:
    def __init__(self, standin: MicrosoftStandIn) -> None:
        self.s = standin
        tenant, sr = r"(?P<tenant>[^/]+)", r"(?P<sr>[^/]+)"
        pc, graph = PC_PREFIX, GRAPH_PREFIX
        self.routes: list[Route] = [
            ("GET", re.compile(f"^/{tenant}/v2.0/.well-known/openid-configuration$"), self.oidc),
            ("POST", re.compile(f"^/{tenant}/oauth2/v2.0/token$"), self.token),
            ("POST", re.compile(f"^/{tenant}/oauth2/v2.0/devicecode$"), self.devicecode),
            ("GET", re.compile(f"^{pc}/v1/servicerequests/supporttopics$"), self.topics),
            ("GET", re.compile(f"^{pc}/v1/servicerequests$"), self.list_requests),
            ("POST", re.compile(f"^{pc}/v1/servicerequests/(?P<locale>[a-zA-Z-]+)$"), self.create),
            ("GET", re.compile(f"^{pc}/v1/servicerequests/{sr}$"), self.get_request),
            ("PATCH", re.compile(f"^{pc}/v1/servicerequests/{sr}$"), self.patch_request),
            ("GET", re.compile(f"^{pc}/v1/customers$"), self.list_customers),
            ("GET", re.compile(f"^{graph}/v1.0/admin/serviceAnnouncement/issues$"), self.issues),
        ]

    def route(self, request: Recorded) -> Any:
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                return handler(request, **match.groupdict())
        raise _Answer(404, {"error": {"code": "NotFound", "message": request.path}})

    # --- Entra ID ---

    def oidc(self, request: Recorded, tenant: str) -> Any:
        """entra/identity-platform/v2-protocols-oidc ("Find your app's OpenID configuration
        document URI"): the endpoints carry the tenant's id, whatever name was asked for."""
        found = self.s.tenant(tenant)
        if found is None:
            raise _Answer(
                400,
                {
                    "error": "invalid_tenant",
                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                },
            )
        base = f"{self.s.url}/{found.id}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.s.url}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
        }

    def token(self, request: Recorded, tenant: str) -> Any:
        found = self.s.tenant(tenant)
        form = request.form
        if found is None:
            raise _oauth_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("client_id") != CLIENT_ID:
            raise _oauth_error(
                400, "unauthorized_client", "AADSTS700016: Application not found in the directory."
            )
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return self.client_credentials(form, found, request)
        if grant == DEVICE_CODE_GRANT:
            return self.device_code_token(form, found)
        if grant == "refresh_token":
            return self.refresh(form, found)
        raise _oauth_error(400, "unsupported_grant_type", f"AADSTS70003: {grant}")

    def client_credentials(self, form: dict[str, str], tenant: Tenant, request: Recorded) -> Any:
        """entra/identity-platform/v2-oauth2-client-creds-grant-flow: a shared secret
        (client_secret) or a certificate (client_assertion, a JWT whose format is in
        entra/identity-platform/certificate-credentials)."""
        scope = form.get("scope", "")
        if not scope.endswith("/.default") or " " in scope:
            raise _oauth_error(
                400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid."
            )
        if "client_secret" in form:
            if form["client_secret"] != self.s.client_secret:
                raise _oauth_error(
                    401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
                )
        elif form.get("client_assertion_type") == JWT_BEARER:
            self._check_assertion(form.get("client_assertion", ""), tenant)
        else:
            raise _oauth_error(
                401,
                "invalid_client",
                "AADSTS7000218: The request body must contain client_assertion or client_secret.",
            )
        if not tenant.consented:
            raise _oauth_error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application '{CLIENT_ID}' was not found in the directory "
                f"'{tenant.id}'. The tenant's administrator has not consented.",
            )
        access = self._issue(tenant.id, scope, app_only=True)
        # The response: token_type, expires_in, ext_expires_in, access_token; no refresh token.
        return {
            "token_type": "Bearer",
            "expires_in": self.s.token_lifetime,
            "ext_expires_in": self.s.token_lifetime,
            "access_token": access,
        }

    def _check_assertion(self, assertion: str, tenant: Tenant) -> None:
        """certificate-credentials: header alg (PS256 with x5t#S256, or RS256 with x5t), claims
        aud = the token endpoint, iss = sub = client id, exp, jti; signed by the app's key."""
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            raise _oauth_error(401, "invalid_client", f"AADSTS50027: {exc}") from None
        for certificate in self.s.certificates:
            der = certificate.public_bytes(serialization.Encoding.DER)
            thumbprints = {
                "x5t#S256": _b64url(hashlib.sha256(der).digest()),
                "x5t": _b64url(hashlib.sha1(der).digest()),  # noqa: S324 - the documented one
            }
            # RFC 7515 §4.1.7: base64url; MSAL keeps the "=" padding, which Entra ID takes.
            sent = {name: str(header.get(name, "")).rstrip("=") for name in thumbprints}
            if not any(sent[name] == value for name, value in thumbprints.items()):
                continue
            try:
                claims = jwt.decode(
                    assertion,
                    certificate.public_key(),  # type: ignore[arg-type]
                    algorithms=["PS256", "RS256"],
                    audience=f"{self.s.url}/{tenant.id}/oauth2/v2.0/token",
                    options={"require": ["exp", "iss", "sub", "aud", "jti"]},
                )
            except jwt.PyJWTError as exc:
                raise _oauth_error(401, "invalid_client", f"AADSTS700027: {exc}") from None
            if claims["iss"] != CLIENT_ID or claims["sub"] != CLIENT_ID:
                raise _oauth_error(401, "invalid_client", "AADSTS700023: iss and sub")
            return
        raise _oauth_error(
            401,
            "invalid_client",
            "AADSTS700027: The certificate with identifier used to sign the client assertion "
            "is not registered on application.",
        )

    def devicecode(self, request: Recorded, tenant: str) -> Any:
        """entra/identity-platform/v2-oauth2-device-code ("Device authorization request")."""
        form = request.form
        found = self.s.tenant(tenant)
        if found is None or form.get("client_id") != CLIENT_ID:
            raise _oauth_error(400, "invalid_request", "AADSTS700016: Application not found.")
        device_code = secrets.token_urlsafe(32)
        user_code = secrets.token_hex(4).upper()
        with self.s.lock:
            self.s.device_codes[device_code] = {
                "user_code": user_code,
                "user": None,
                "scope": form.get("scope", ""),
                "tenant": found.id,
            }
        verification = "https://microsoft.com/devicelogin"
        return {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification,
            "expires_in": 900,
            "interval": 1,
            "message": f"To sign in, use a web browser to open the page {verification} and "
            f"enter the code {user_code} to authenticate.",
        }

    def device_code_token(self, form: dict[str, str], tenant: Tenant) -> Any:
        """v2-oauth2-device-code ("Authenticating the user"): authorization_pending until the
        user has signed in, then the tokens."""
        with self.s.lock:
            flow = self.s.device_codes.get(form.get("device_code", ""))
        if flow is None:
            raise _oauth_error(400, "expired_token", "AADSTS70020: The device code expired.")
        if flow["user"] is None:
            raise _oauth_error(
                400, "authorization_pending", "AADSTS70016: OAuth 2.0 device flow error."
            )
        with self.s.lock:
            self.s.device_codes.pop(form["device_code"], None)
        return self._user_tokens(tenant, flow["scope"], flow["user"])

    def refresh(self, form: dict[str, str], tenant: Tenant) -> Any:
        """entra/identity-platform/v2-oauth2-auth-code-flow ("Refresh the access token"): a new
        refresh token comes back; refresh tokens last 90 days unused (refresh-tokens)."""
        with self.s.lock:
            user = self.s.refresh_tokens.get(form.get("refresh_token", ""))
        if "client_secret" in form or "client_assertion" in form:
            # A token from the device code flow belongs to a public client.
            raise _oauth_error(
                401,
                "invalid_client",
                "AADSTS700025: Client is public so neither 'client_assertion' nor "
                "'client_secret' should be presented.",
            )
        if user is None:
            raise _oauth_error(
                400,
                "invalid_grant",
                "AADSTS700082: The refresh token has expired due to inactivity. The token was "
                "issued on 2026-01-01 and was inactive for 90.00:00:00.",
            )
        return self._user_tokens(tenant, form.get("scope", ""), user)

    def _user_tokens(self, tenant: Tenant, scope: str, user: str) -> Any:
        wanted = [s for s in scope.split() if s not in {"openid", "profile", "offline_access"}]
        access = self._issue(tenant.id, " ".join(wanted), app_only=False, user=user)
        refresh = secrets.token_urlsafe(48)
        with self.s.lock:
            self.s.refresh_tokens[refresh] = user
        oid = str(uuid.uuid5(uuid.NAMESPACE_URL, user))
        now = int(time.time())
        id_token = jwt.encode(
            {
                "aud": CLIENT_ID,
                "iss": f"{self.s.url}/{tenant.id}/v2.0",
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": "Partner Admin",
                "oid": oid,
                "preferred_username": user,
                "sub": oid,
                "tid": tenant.id,
                "ver": "2.0",
            },
            "stand-in-id-token-key-not-a-secret-of-anyone",
            algorithm="HS256",
        )
        client_info = _b64url(json.dumps({"uid": oid, "utid": tenant.id}).encode())
        return {
            "token_type": "Bearer",
            "scope": " ".join(wanted),
            "expires_in": self.s.token_lifetime,
            "ext_expires_in": self.s.token_lifetime,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": client_info,
        }

    def _issue(self, tenant: str, scope: str, app_only: bool, user: str | None = None) -> str:
        token = "standin-" + secrets.token_urlsafe(32)
        with self.s.lock:
            expires = time.time() + self.s.token_lifetime
            self.s.tokens[token] = Issued(tenant, scope, app_only, expires, user)
        return token

    def _bearer(self, request: Recorded, *, scope_suffix: str, app_only: bool) -> Issued:
        """Partner Center wants App+User tokens for service requests
        (partner-center/developer/partner-center-authentication); Graph's service health an
        app-only token with ServiceHealth.Read.All (graph/api/serviceannouncement-list-issues)."""
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        with self.s.lock:
            issued = self.s.tokens.get(token)
        if issued is None or issued.expires_at < time.time():
            raise _Answer(401, {"code": 401, "description": "Unauthorized"})
        if not issued.scope.endswith(scope_suffix) or issued.app_only != app_only:
            raise _Answer(403, {"code": 403, "description": f"wrong token: {issued.scope}"})
        return issued

    # --- Partner Center ---

    def _pc(self, request: Recorded) -> Issued:
        """partner-center/developer/headers: Authorization, Accept, MS-RequestId and
        MS-CorrelationId (GUIDs) on every request."""
        issued = self._bearer(request, scope_suffix="/user_impersonation", app_only=False)
        for name in ("MS-RequestId", "MS-CorrelationId"):
            try:
                uuid.UUID(request.headers.get(name, ""))
            except ValueError:
                raise _Answer(400, {"code": 400, "description": f"{name} missing"}) from None
        return issued

    def topics(self, request: Recorded) -> Any:
        """partner-center/developer/get-service-request-support-topics."""
        self._pc(request)
        return _collection(self.s.support_topics)

    def create(self, request: Recorded, locale: str) -> Any:
        """partner-center/developer/create-a-service-request: Title, Description, Severity and
        SupportTopicId are required; the answer is the ServiceRequest resource
        (service-request-resources), status open."""
        issued = self._pc(request)
        body = request.json
        missing = [
            k for k in ("Title", "Description", "Severity", "SupportTopicId") if not body.get(k)
        ]
        if missing:
            raise _Answer(400, {"code": 400, "description": f"missing {', '.join(missing)}"})
        if body["Severity"] not in {"minimal", "moderate", "critical"}:
            raise _Answer(400, {"code": 400, "description": "bad Severity"})
        topic = next(
            (t for t in self.s.support_topics if str(t["id"]) == str(body["SupportTopicId"])),
            None,
        )
        if topic is None:
            raise _Answer(400, {"code": 400, "description": "unknown SupportTopicId"})
        ident = str(next(self.s._ids))
        created = {
            "title": body["Title"],
            "description": body["Description"],
            "severity": body["Severity"],
            "supportTopicId": str(topic["id"]),
            "supportTopicName": topic["name"],
            "id": ident,
            "status": "open",
            "organization": {"id": PARTNER_TENANT, "name": "Contoso Cloud"},
            "primaryContact": {"email": issued.user},
            "productName": "Microsoft 365",
            "createdDate": _now(),
            "lastModifiedDate": _now(),
            "lastClosedDate": "0001-01-01T00:00:00",
            "countryCode": "NL",
            "notes": [],
            "locale": locale,
            "attributes": {"objectType": "ServiceRequest"},
        }
        with self.s.lock:
            self.s.service_requests[ident] = created
        return created

    def list_requests(self, request: Recorded) -> Any:
        self._pc(request)
        with self.s.lock:
            return _collection(list(self.s.service_requests.values()))

    def get_request(self, request: Recorded, sr: str) -> Any:
        """partner-center/developer/get-service-request-details-by-id."""
        self._pc(request)
        with self.s.lock:
            found = self.s.service_requests.get(sr)
            if found is None:
                raise _Answer(404, {"code": 404, "description": "not found"})
            return json.loads(json.dumps(found))

    def patch_request(self, request: Recorded, sr: str) -> Any:
        """partner-center/developer/update-a-service-request: only what changes, here NewNote
        (a ServiceRequestNote with Text); the answer is the updated resource."""
        issued = self._pc(request)
        note = request.json.get("NewNote") or {}
        if not note.get("Text"):
            raise _Answer(400, {"code": 400, "description": "NewNote.Text missing"})
        with self.s.lock:
            found = self.s.service_requests.get(sr)
            if found is None:
                raise _Answer(404, {"code": 404, "description": "not found"})
            found["notes"].append(
                {"createdByName": issued.user, "createdDate": _now(), "text": note["Text"]}
            )
            found["lastModifiedDate"] = _now()
            return json.loads(json.dumps(found))

    def list_customers(self, request: Recorded) -> Any:
        """partner-center/developer/get-a-list-of-customers: pages of `size`, the next one by
        links.next with its MS-ContinuationToken header. App-only or App+User tokens."""
        header = request.headers.get("Authorization", "")
        with self.s.lock:
            issued = self.s.tokens.get(header.removeprefix("Bearer "))
        if issued is None or issued.expires_at < time.time():
            raise _Answer(401, {"code": 401, "description": "Unauthorized"})
        size = int(request.query.get("size", ["40"])[0])
        size = min(size, self.s.customer_page_size)
        start = int(request.headers.get("MS-ContinuationToken") or 0)
        page = self.s.customers[start : start + size]
        links: dict[str, Any] = {"self": {"uri": f"/customers?size={size}", "method": "GET"}}
        if start + size < len(self.s.customers):
            links["next"] = {
                "uri": f"/customers?size={size}&seekOperation=next",
                "method": "GET",
                "headers": [{"key": "MS-ContinuationToken", "value": str(start + size)}],
            }
        return {
            "totalCount": len(page),
            "items": page,
            "links": links,
            "attributes": {"objectType": "Collection"},
        }

    # --- Graph ---

    def issues(self, request: Recorded) -> Any:
        """graph/api/serviceannouncement-list-issues: the tenant's serviceHealthIssue
        collection, paged by @odata.nextLink (graph/paging)."""
        issued = self._bearer(request, scope_suffix="/.default", app_only=True)
        tenant = self.s.tenants[issued.tenant]
        skip = int(request.query.get("$skiptoken", ["0"])[0])
        size = self.s.issue_page_size
        answer: dict[str, Any] = {
            "@odata.context": f"{self.s.graph_url}/v1.0/$metadata#admin/serviceAnnouncement/issues",
            "value": tenant.issues[skip : skip + size],
        }
        if skip + size < len(tenant.issues):
            answer["@odata.nextLink"] = (
                f"{self.s.graph_url}/v1.0/admin/serviceAnnouncement/issues?$skiptoken={skip + size}"
            )
        return answer


def _collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"totalCount": len(items), "items": items, "attributes": {"objectType": "Collection"}}


def _oauth_error(status: int, error: str, description: str) -> _Answer:
    """entra/identity-platform/reference-error-codes: error, error_description (with the
    AADSTS code), error_codes, timestamp, trace_id, correlation_id."""
    code = re.match(r"AADSTS(\d+)", description)
    return _Answer(
        status,
        {
            "error": error,
            "error_description": description,
            "error_codes": [int(code.group(1))] if code else [],
            "timestamp": _now(),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
    )


def _introspection_handler(standin: MicrosoftStandIn) -> type[BaseHTTPRequestHandler]:
    class Introspection(BaseHTTPRequestHandler):
        """RFC 7662 as Dovecot's oauth2 passdb asks it (introspection_mode = post)."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            token = parse_qs(self.rfile.read(length).decode()).get("token", [""])[0]
            user = standin.introspect(token)
            body = json.dumps({"active": True, "username": user} if user else {"active": False})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    return Introspection
