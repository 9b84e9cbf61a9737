"""A small but real OpenID Connect provider for tests, standing in for HelseID on 127.0.0.1.

It speaks HTTP in a thread and does what HelseID does for a web client: discovery, JWKS, pushed
authorization requests, the authorize endpoint (the person who "signs in" is set by the test), the
token endpoint with client authentication (private_key_jwt checked against the client's registered
public key, or a client secret) and PKCE (S256), RS256-signed ID tokens, and RP-initiated logout.

Tests steer it: `person` is who signs in next (None: the person cancels), `id_token_changes`
alters the next ID token (an old `exp`, another `nonce`, ...), `sign_with_other_key` signs it
with a key the JWKS does not publish.

    provider = OidcProvider().start()
    provider.register_client("portal", redirect_uris=[...], jwk=public_jwk)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

HELSEID_PID = "helseid://claims/identity/pid"
HELSEID_SECURITY_LEVEL = "helseid://claims/identity/security_level"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class RegisteredClient:
    client_id: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    jwk: dict[str, Any] | None = None  # public key for private_key_jwt
    secret: str | None = None


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    claims: dict[str, Any]
    issued_at: float


@dataclass
class Seen:
    """What the provider saw, for assertions."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    par_requests: int = 0
    token_requests: int = 0
    token_errors: list[str] = field(default_factory=list)
    ended_sessions: list[dict[str, str]] = field(default_factory=list)
    client_auth_methods: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # ID tokens and access tokens given, assertions received


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class OidcProvider:
    def __init__(self, key: rsa.RSAPrivateKey | None = None) -> None:
        self.key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "provider-key-1"
        self._server = make_server("127.0.0.1", 0, self._app, server_class=_Server, handler_class=_QuietHandler)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.reset()

    # -- test controls ------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.clients: dict[str, RegisteredClient] = {}
            self.codes: dict[str, Grant] = {}
            self.pushed: dict[str, tuple[float, dict[str, str]]] = {}
            self.used_assertions: set[str] = set()
            self.person: dict[str, Any] | None = None
            self.id_token_changes: dict[str, Any] = {}
            self.sign_with_other_key = False
            self.advertise_par = True
            self.require_par = False
            self.seen = Seen()

    def register_client(
        self,
        client_id: str,
        *,
        redirect_uris: list[str],
        post_logout_redirect_uris: list[str] = (),  # type: ignore[assignment]
        jwk: dict[str, Any] | None = None,
        secret: str | None = None,
    ) -> None:
        self.clients[client_id] = RegisteredClient(
            client_id, list(redirect_uris), list(post_logout_redirect_uris), jwk=jwk, secret=secret
        )

    def start(self) -> OidcProvider:
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def endpoint(self, name: str) -> str:
        return f"{self.issuer}/connect/{name}"

    # -- acting as the browser ----------------------------------------------------------------------

    def visit(self, url: str) -> str:
        """GET a provider URL as the browser would and return where the provider redirects to."""
        assert url.startswith(self.issuer + "/"), url

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            response = opener.open(url, timeout=5)
        except urllib.error.HTTPError as error:
            if error.code in (301, 302, 303):
                return error.headers["Location"]
            raise
        raise AssertionError(f"the provider did not redirect: HTTP {response.status}")

    # -- the WSGI application -----------------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        self.seen.requests.append((method, path))
        query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
        form: dict[str, str] = {}
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            form = dict(urllib.parse.parse_qsl(environ["wsgi.input"].read(length).decode()))
        routes = {
            ("GET", "/.well-known/openid-configuration"): lambda: self._discovery(),
            ("GET", "/jwks"): lambda: (200, self.jwks()),
            ("GET", "/connect/authorize"): lambda: self._authorize(query),
            ("POST", "/connect/par"): lambda: self._par(form, environ),
            ("POST", "/connect/token"): lambda: self._token(form, environ),
            ("GET", "/connect/endsession"): lambda: self._end_session(query),
        }
        handler = routes.get((method, path))
        if handler is None:
            status, body = 404, {"error": "not_found"}
        else:
            with self._lock:
                status, body = handler()
        if isinstance(body, str):  # a redirect
            start_response(f"{status} Found", [("Location", body), ("Content-Length", "0")])
            return iter([b""])
        payload = json.dumps(body).encode()
        reason = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}[status]
        start_response(
            f"{status} {reason}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(payload))),
                ("Cache-Control", "no-store"),
            ],
        )
        return iter([payload])

    def _discovery(self) -> tuple[int, dict[str, Any]]:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("authorize"),
            "token_endpoint": self.endpoint("token"),
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": self.endpoint("endsession"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post"],
            "authorization_response_iss_parameter_supported": True,
        }
        if self.advertise_par:
            document["pushed_authorization_request_endpoint"] = self.endpoint("par")
        return 200, document

    def _authenticate_client(self, form: dict[str, str], environ: dict[str, Any]) -> RegisteredClient | str:
        """The client, or why it failed (RFC 6749 invalid_client)."""
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if form.get("client_assertion"):
            self.seen.client_auth_methods.append("private_key_jwt")
            self.seen.issued.append(form["client_assertion"])
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return "wrong client_assertion_type"
            try:
                unverified = jwt.decode(form["client_assertion"], options={"verify_signature": False})
            except jwt.PyJWTError:
                return "malformed assertion"
            client = self.clients.get(unverified.get("iss", ""))
            if client is None or client.jwk is None:
                return "unknown client"
            try:
                claims = jwt.decode(
                    form["client_assertion"],
                    jwt.PyJWK.from_dict(client.jwk).key,
                    algorithms=["RS256", "PS256", "ES256"],
                    # HelseID wants its issuer; RFC 7523 allows the endpoint too.
                    audience=[self.issuer, self.endpoint("token"), self.endpoint("par")],
                    options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
                )
            except jwt.PyJWTError as error:
                return f"assertion: {type(error).__name__}"
            if claims["sub"] != client.client_id or form.get("client_id", client.client_id) != client.client_id:
                return "assertion subject is not the client"
            if claims["exp"] > time.time() + 65 or claims["exp"] - claims["iat"] > 60:
                return "assertion lives longer than 60 seconds"
            if claims["jti"] in self.used_assertions:
                return "assertion replayed"
            self.used_assertions.add(claims["jti"])
            return client
        if authorization.startswith("Basic "):
            self.seen.client_auth_methods.append("client_secret_basic")
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            client_id, secret = urllib.parse.unquote(client_id), urllib.parse.unquote(secret)
        elif "client_secret" in form:
            self.seen.client_auth_methods.append("client_secret_post")
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            return "no client authentication"
        client = self.clients.get(client_id)
        if client is None or client.secret is None or not hmac.compare_digest(client.secret, secret):
            return "wrong client secret"
        return client

    def _par(self, form: dict[str, str], environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.seen.par_requests += 1
        client = self._authenticate_client(form, environ)
        if isinstance(client, str):
            return 401, {"error": "invalid_client", "error_description": client}
        parameters = {
            k: v for k, v in form.items() if k not in ("client_assertion", "client_assertion_type", "client_secret")
        }
        request_uri = f"urn:ietf:params:oauth:request_uri:{secrets.token_urlsafe(16)}"
        self.pushed[request_uri] = (time.time() + 60, parameters)
        return 201, {"request_uri": request_uri, "expires_in": 60}

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
        if "request_uri" in query:
            expires, parameters = self.pushed.pop(query["request_uri"], (0.0, {}))
            if expires < time.time() or parameters.get("client_id") != query.get("client_id"):
                return 400, {"error": "invalid_request_uri"}
        elif self.require_par:
            return 400, {"error": "invalid_request", "error_description": "PAR is required"}
        else:
            parameters = query
        client = self.clients.get(parameters.get("client_id", ""))
        redirect_uri = parameters.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            # Never redirect to an unregistered address (RFC 6749 4.1.2.1).
            return 400, {"error": "invalid_request", "error_description": "unknown client or redirect_uri"}
        answer: dict[str, str] = {"state": parameters.get("state", ""), "iss": self.issuer}
        if (
            parameters.get("response_type") != "code"
            or parameters.get("code_challenge_method") != "S256"
            or not parameters.get("code_challenge")
            or "openid" not in parameters.get("scope", "").split()
        ):
            answer["error"] = "invalid_request"
        elif self.person is None:
            answer["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = Grant(
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                code_challenge=parameters["code_challenge"],
                nonce=parameters.get("nonce"),
                claims=dict(self.person),
                issued_at=time.time(),
            )
            answer["code"] = code
        return 302, redirect_uri + ("&" if "?" in redirect_uri else "?") + urllib.parse.urlencode(answer)

    def _token(self, form: dict[str, str], environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.seen.token_requests += 1
        client = self._authenticate_client(form, environ)
        if isinstance(client, str):
            self.seen.token_errors.append(client)
            return 401, {"error": "invalid_client", "error_description": client}
        grant = self.codes.pop(form.get("code", ""), None)  # one use only
        problem = None
        if form.get("grant_type") != "authorization_code":
            problem = "unsupported grant_type"
        elif grant is None or grant.issued_at < time.time() - 60:
            problem = "unknown, used or expired code"
        elif grant.client_id != client.client_id or grant.redirect_uri != form.get("redirect_uri"):
            problem = "code issued to another client or redirect_uri"
        elif b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest()) != grant.code_challenge:
            problem = "PKCE verifier does not match the challenge"
        if problem or grant is None:
            self.seen.token_errors.append(problem or "")
            return 400, {"error": "invalid_grant", "error_description": problem}
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": client.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "auth_time": now,
            "idp": "testidp-oidc",
            **grant.claims,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(self.id_token_changes)
        key = self.other_key if self.sign_with_other_key else self.key
        kid = "unpublished-key" if self.sign_with_other_key else self.kid
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})
        access_token = secrets.token_urlsafe(32)
        self.seen.issued += [id_token, access_token, form.get("code", ""), form.get("code_verifier", "")]
        return 200, {
            "id_token": id_token,
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "openid profile",
        }

    def _end_session(self, query: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
        client = self.clients.get(query.get("client_id", ""))
        target = query.get("post_logout_redirect_uri", "")
        if client is None or target not in client.post_logout_redirect_uris:
            return 400, {"error": "invalid_request"}
        self.seen.ended_sessions.append(dict(query))
        if query.get("state"):
            target += ("&" if "?" in target else "?") + urllib.parse.urlencode({"state": query["state"]})
        return 302, target


# -- fixtures (import them into a test module: `from tests.oidc_provider import helseid, oidc_provider`) --

CLIENT_ID = "registerportal-test"
CALLBACK_PATH = "/logg-inn/helseid/tilbake/"
LOGIN_PATH = "/logg-inn/"


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    provider = OidcProvider().start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def portal_client_key() -> dict[str, Any]:
    """The portal's private key for private_key_jwt, as a JWK (the form HelseID's self-service gives)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    return {**private, "kid": "portal-client-key", "alg": "RS256"}


def public_part(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: jwk[name] for name in ("kty", "n", "e", "kid", "alg")}


@pytest.fixture
def helseid(oidc_provider, portal_client_key, settings, tmp_path) -> Iterator[OidcProvider]:
    """The provider, reset, with the portal registered as a client, and the portal configured for it."""
    from portal import oidc

    oidc_provider.reset()
    origins = ["http://testserver"]
    oidc_provider.register_client(
        CLIENT_ID,
        redirect_uris=[origin + CALLBACK_PATH for origin in origins],
        post_logout_redirect_uris=[origin + LOGIN_PATH for origin in origins],
        jwk=public_part(portal_client_key),
    )
    key_file = tmp_path / "helseid-client-key.json"
    key_file.write_text(json.dumps(portal_client_key))
    settings.OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_AUTH_METHOD = "private_key_jwt"
    settings.OIDC_PRIVATE_KEY_FILE = str(key_file)
    settings.OIDC_PRIVATE_KEY = ""
    settings.OIDC_PRIVATE_KEY_ID = ""
    settings.OIDC_SIGNING_ALGORITHM = ""
    settings.OIDC_USE_PAR = "auto"
    settings.OIDC_REQUIRED_SECURITY_LEVEL = 4
    settings.OIDC_CREATE_USERS = True
    settings.OIDC_HTTP_TIMEOUT = 5
    oidc.clear_caches()
    yield oidc_provider
    oidc.clear_caches()


def person(pid: str, *, given_name: str = "Kari", family_name: str = "Nordmann", level: str = "4") -> dict[str, Any]:
    """The claims HelseID issues for a person signed in with BankID (level 4: high)."""
    return {
        "sub": b64url(hashlib.sha256(f"sub:{pid}".encode()).digest()),
        HELSEID_PID: pid,
        HELSEID_SECURITY_LEVEL: level,
        "helseid://claims/identity/assurance_level": "high",
        "name": f"{given_name} {family_name}",
        "given_name": given_name,
        "family_name": family_name,
    }
