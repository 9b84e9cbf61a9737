"""OpenID Connect sign-in for people: HelseID (or another provider), authorization code flow with PKCE.

A small client on PyJWT and the standard library, written for HelseID's security profile:
- client authentication with `private_key_jwt` (the only method HelseID accepts; the assertion's
  audience is the issuer, its lifetime at most 60 s), or `client_secret_basic`/`client_secret_post`
  for other providers;
- pushed authorization requests (PAR, RFC 9126), which HelseID requires of new clients that sign in
  users, used whenever the provider publishes the endpoint (OIDC_USE_PAR);
- PKCE (S256), `state` and `nonce` kept in the session, one use each, ten minutes at most;
- the ID token checked as OpenID Connect Core 3.1.3.7 says: signature against the provider's JWKS
  (asymmetric algorithms only), issuer, audience (and `azp` when there are several), expiry, issued-at,
  nonce; the issuer in the redirect (RFC 9207) when the provider sends it.

The ID token is not kept: HelseID's carries the national identity number. For the same reason the
claims are never logged; the person is identified by a keyed hash (portal.backends).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.urls import reverse

from portal.lib.jwk import b64url, jwk_thumbprint

logger = logging.getLogger(__name__)

SESSION_KEY = "oidc_pending"
PENDING_MAX_AGE = 600  # seconds from leaving for the provider to coming back
PENDING_MAX_COUNT = 5  # sign-ins started in other tabs that may still come back
ID_TOKEN_ALGORITHMS = ["RS256", "PS256", "ES256", "RS384", "PS384", "ES384", "RS512", "PS512", "ES512"]
ASSERTION_LIFETIME = 60  # HelseID refuses assertions valid for longer
MAX_RESPONSE_BYTES = 1024 * 1024


class OidcError(Exception):
    """Why a sign-in failed. `reason` is a short code that is safe to log and store: never a token."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def is_enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID)


# -- HTTP ----------------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """HTTPS only; plain HTTP only to this machine (the test provider)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url
    raise OidcError("insecure_url", f"{parts.scheme}://{parts.hostname} is not an HTTPS address")


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: dict[str, Any]


def _http(url: str, *, form: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> HttpResult:
    request = urllib.request.Request(  # noqa: S310  (check_url allows https, and http to loopback only)
        check_url(url),
        data=urllib.parse.urlencode(form).encode() if form is not None else None,
        headers={"Accept": "application/json", **(headers or {})},
        method="POST" if form is not None else "GET",
    )
    if form is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=settings.OIDC_HTTP_TIMEOUT) as response:  # noqa: S310  # nosec B310
            status, raw = response.status, response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read(MAX_RESPONSE_BYTES + 1)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise OidcError("provider_unreachable", f"{urllib.parse.urlsplit(url).netloc}: {error}") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise OidcError("provider_response", "response too large")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise OidcError("provider_response", f"HTTP {status}, not JSON") from None
    if not isinstance(body, dict):
        raise OidcError("provider_response", f"HTTP {status}, not a JSON object")
    return HttpResult(status, body)


# -- provider metadata and keys -------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    par_endpoint: str | None

    @property
    def uses_par(self) -> bool:
        mode = str(settings.OIDC_USE_PAR).lower()
        if mode in ("true", "1", "yes"):
            if not self.par_endpoint:
                raise OidcError("configuration", "OIDC_USE_PAR is on, but the provider has no PAR endpoint")
            return True
        return mode == "auto" and bool(self.par_endpoint)


_provider_cache: dict[str, tuple[float, Provider]] = {}


def provider() -> Provider:
    """The provider's discovery document, fetched once an hour per process."""
    issuer = settings.OIDC_ISSUER
    cached = _provider_cache.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    result = _http(url)
    if result.status != 200:
        raise OidcError("provider_metadata", f"HTTP {result.status} from the discovery document")
    document = result.body
    # OpenID Connect Discovery 4.3: the issuer in the document must be exactly the one configured.
    if document.get("issuer") != issuer:
        raise OidcError("provider_metadata", "the discovery document names another issuer")
    try:
        found = Provider(
            issuer=issuer,
            authorization_endpoint=check_url(document["authorization_endpoint"]),
            token_endpoint=check_url(document["token_endpoint"]),
            jwks_uri=check_url(document["jwks_uri"]),
            end_session_endpoint=check_url(document["end_session_endpoint"])
            if document.get("end_session_endpoint")
            else None,
            par_endpoint=check_url(document["pushed_authorization_request_endpoint"])
            if document.get("pushed_authorization_request_endpoint")
            else None,
        )
    except KeyError as error:
        raise OidcError("provider_metadata", f"the discovery document has no {error.args[0]}") from None
    _provider_cache[issuer] = (time.monotonic() + settings.OIDC_METADATA_TTL, found)
    return found


@lru_cache(maxsize=8)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=settings.OIDC_HTTP_TIMEOUT)


def clear_caches() -> None:
    """Forget discovery documents and keys (tests; a provider that rotated everything at once)."""
    _provider_cache.clear()
    _jwks_client.cache_clear()
    _client_key.cache_clear()


# -- client authentication ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientKey:
    key: Any
    kid: str
    algorithm: str


def public_jwk(public_key: Any) -> dict[str, Any]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public_key))
    raise ImproperlyConfigured("OIDC_PRIVATE_KEY must be an RSA or EC key.")


@lru_cache(maxsize=2)
def _client_key(source: str, modified: float) -> ClientKey:
    text = Path(source).read_text() if modified >= 0 else source
    text = text.strip()
    kid = settings.OIDC_PRIVATE_KEY_ID
    if text.startswith("{"):
        # HelseID's self-service portal hands out the key as a JWK.
        data = json.loads(text)
        if "d" not in data:
            raise ImproperlyConfigured("OIDC_PRIVATE_KEY is a public JWK; the private key is needed.")
        key = jwt.PyJWK.from_dict(data).key
        kid = kid or data.get("kid", "")
        algorithm = settings.OIDC_SIGNING_ALGORITHM or data.get("alg", "")
    else:
        key = serialization.load_pem_private_key(text.encode(), password=None)
        algorithm = settings.OIDC_SIGNING_ALGORITHM
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = algorithm or "RS256"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = algorithm or "ES256"
    else:
        raise ImproperlyConfigured("OIDC_PRIVATE_KEY must be an RSA or EC private key.")
    if algorithm not in ID_TOKEN_ALGORITHMS:
        raise ImproperlyConfigured(f"OIDC_SIGNING_ALGORITHM {algorithm!r} is not an asymmetric JWS algorithm.")
    return ClientKey(key=key, kid=kid or jwk_thumbprint(public_jwk(key.public_key())), algorithm=algorithm)


def client_key() -> ClientKey:
    if settings.OIDC_PRIVATE_KEY_FILE:
        path = Path(settings.OIDC_PRIVATE_KEY_FILE)
        try:
            return _client_key(str(path), path.stat().st_mtime)
        except OSError as error:
            raise ImproperlyConfigured(f"OIDC_PRIVATE_KEY_FILE cannot be read: {error.strerror}") from None
    if settings.OIDC_PRIVATE_KEY:
        return _client_key(settings.OIDC_PRIVATE_KEY, -1.0)
    raise ImproperlyConfigured("private_key_jwt needs OIDC_PRIVATE_KEY_FILE or OIDC_PRIVATE_KEY.")


def client_assertion(audience: str) -> str:
    key = client_key()
    now = int(time.time())
    claims = {
        "iss": settings.OIDC_CLIENT_ID,
        "sub": settings.OIDC_CLIENT_ID,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ASSERTION_LIFETIME,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.key, algorithm=key.algorithm, headers={"kid": key.kid, "typ": "JWT"})


def _authenticated(form: dict[str, str], endpoint: str) -> tuple[dict[str, str], dict[str, str]]:
    """The form and headers of a request to the token or PAR endpoint, with the client's credentials."""
    method = settings.OIDC_CLIENT_AUTH_METHOD
    form = {**form, "client_id": settings.OIDC_CLIENT_ID}
    if method == "private_key_jwt":
        audience = endpoint if settings.OIDC_ASSERTION_AUDIENCE == "endpoint" else settings.OIDC_ISSUER
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = client_assertion(audience)
        return form, {}
    if method == "client_secret_post":
        return {**form, "client_secret": settings.OIDC_CLIENT_SECRET}, {}
    if method == "client_secret_basic":
        # RFC 6749 2.3.1: both parts form-urlencoded before the Basic encoding.
        client_id = urllib.parse.quote(settings.OIDC_CLIENT_ID, safe="")
        pair = f"{client_id}:{urllib.parse.quote(settings.OIDC_CLIENT_SECRET, safe='')}"
        return form, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    raise ImproperlyConfigured(f"OIDC_CLIENT_AUTH_METHOD {method!r} is not supported.")


# -- the flow -------------------------------------------------------------------------------------


def redirect_uri(request: HttpRequest) -> str:
    return settings.OIDC_REDIRECT_URI or request.build_absolute_uri(reverse("portal:oidc_callback"))


def begin(request: HttpRequest, *, next_url: str) -> str:
    """Remember state, nonce and PKCE verifier in the session; the URL to send the browser to."""
    found = provider()
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    pending = {
        key: value
        for key, value in request.session.get(SESSION_KEY, {}).items()
        if value.get("at", 0) > time.time() - PENDING_MAX_AGE
    }
    pending[state] = {"nonce": nonce, "verifier": verifier, "next": next_url, "at": int(time.time())}
    newest = sorted(pending.items(), key=lambda item: item[1]["at"])[-PENDING_MAX_COUNT:]
    request.session[SESSION_KEY] = dict(newest)
    parameters = {
        "response_type": "code",
        "client_id": settings.OIDC_CLIENT_ID,
        "redirect_uri": redirect_uri(request),
        "scope": " ".join(settings.OIDC_SCOPES),
        "state": state,
        "nonce": nonce,
        "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }
    if settings.OIDC_ACR_VALUES:
        parameters["acr_values"] = settings.OIDC_ACR_VALUES
    if settings.OIDC_PROMPT:
        parameters["prompt"] = settings.OIDC_PROMPT
    if found.uses_par:
        form, headers = _authenticated(parameters, found.par_endpoint or "")
        result = _http(found.par_endpoint or "", form=form, headers=headers)
        request_uri = result.body.get("request_uri")
        if result.status not in (200, 201) or not isinstance(request_uri, str):
            raise OidcError("par", f"HTTP {result.status} {_error_code(result.body)}")
        parameters = {"client_id": settings.OIDC_CLIENT_ID, "request_uri": request_uri}
    return _with_query(found.authorization_endpoint, parameters)


def _with_query(url: str, parameters: dict[str, str]) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query) + list(parameters.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _error_code(body: dict[str, Any]) -> str:
    # The provider's error code only (a fixed vocabulary, RFC 6749 5.2); its description is free text.
    code = body.get("error")
    return code if isinstance(code, str) and code.replace("_", "").isalnum() and len(code) < 64 else ""


@dataclass(frozen=True)
class SignIn:
    claims: dict[str, Any]
    next_url: str


def complete(request: HttpRequest) -> SignIn:
    """Check the provider's answer, redeem the code and verify the ID token; the person's claims."""
    params = request.GET
    state = params.get("state", "")
    pending_all = request.session.get(SESSION_KEY, {})
    pending = pending_all.pop(state, None) if state else None
    request.session[SESSION_KEY] = pending_all
    if pending is None:
        raise OidcError("state", "unknown or reused state")
    if pending.get("at", 0) < time.time() - PENDING_MAX_AGE:
        raise OidcError("state", "the sign-in took too long")
    if params.get("error"):
        raise OidcError("provider_error", _error_code(dict(params.items())) or "error")
    found = provider()
    # RFC 9207: when the provider names itself in the redirect, it must be the one we sent the user to.
    if "iss" in params and params["iss"] != found.issuer:
        raise OidcError("issuer", "the redirect names another issuer")
    code = params.get("code", "")
    if not code:
        raise OidcError("code", "no authorization code")
    form, headers = _authenticated(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri(request),
            "code_verifier": pending["verifier"],
        },
        found.token_endpoint,
    )
    result = _http(found.token_endpoint, form=form, headers=headers)
    if result.status != 200:
        raise OidcError("token_endpoint", f"HTTP {result.status} {_error_code(result.body)}")
    id_token = result.body.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError("id_token", "the token response has no ID token")
    claims = verify_id_token(id_token, nonce=pending["nonce"], provider_=found)
    return SignIn(claims=claims, next_url=pending.get("next") or "")


def verify_id_token(id_token: str, *, nonce: str, provider_: Provider) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise OidcError("id_token", "malformed") from None
    if header.get("alg") not in ID_TOKEN_ALGORITHMS:
        raise OidcError("id_token", f"algorithm {header.get('alg')!r} not allowed")
    try:
        key = _jwks_client(provider_.jwks_uri).get_signing_key_from_jwt(id_token).key
    except jwt.PyJWKClientError as error:
        raise OidcError("id_token", f"no signing key: {error}") from None
    try:
        claims = jwt.decode(
            id_token,
            key,
            algorithms=ID_TOKEN_ALGORITHMS,
            audience=settings.OIDC_CLIENT_ID,
            issuer=provider_.issuer,
            leeway=settings.OIDC_LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise OidcError("id_token_expired", "the ID token has expired") from None
    except jwt.PyJWTError as error:
        raise OidcError("id_token", type(error).__name__) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != settings.OIDC_CLIENT_ID:
        raise OidcError("id_token", "several audiences and azp is not this client")
    if claims["iat"] > time.time() + settings.OIDC_LEEWAY_SECONDS:
        raise OidcError("id_token", "issued in the future")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise OidcError("nonce", "the ID token's nonce is not the one sent")
    return claims


def logout_url(request: HttpRequest, *, post_logout_redirect_uri: str) -> str | None:
    """RP-initiated logout at the provider, identified by client_id (there is no ID token to hint with)."""
    if not (is_enabled() and settings.OIDC_PROVIDER_LOGOUT):
        return None
    try:
        found = provider()
    except OidcError as error:
        logger.warning("OIDC logout at the provider skipped: %s", error.reason)
        return None
    if not found.end_session_endpoint:
        return None
    return _with_query(
        found.end_session_endpoint,
        {"client_id": settings.OIDC_CLIENT_ID, "post_logout_redirect_uri": post_logout_redirect_uri},
    )
