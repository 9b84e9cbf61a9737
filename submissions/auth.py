"""Bearer-token verification for machine clients (HelseID access tokens, and a local issuer for development).

The same path verifies both: signature against the issuer's JWKS, issuer, audience,
expiry and not-before with a small leeway, the required scope, `typ` = at+jwt, and the
organisation-number claims. Tokens are never logged.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.cache import cache

from portal.lib.jwk import PRIVATE_MEMBERS, jwk_thumbprint

logger = logging.getLogger(__name__)

ORG_PARENT_CLAIM = "helseid://claims/client/claims/orgnr_parent"
ORG_CHILD_CLAIM = "helseid://claims/client/claims/orgnr_child"
ALLOWED_ALGORITHMS = ["RS256", "PS256", "ES256"]


class TokenError(Exception):
    """Why a token was refused (safe to log: never contains the token)."""


@dataclass(frozen=True)
class TokenClient:
    client_id: str
    org_number: str
    child_org_number: str | None
    scopes: frozenset[str]

    @property
    def org_numbers(self) -> frozenset[str]:
        return frozenset(n for n in (self.org_number, self.child_org_number) if n)


# -- keys ---------------------------------------------------------------------------------------


class LocalIssuer:
    """The portal's own development issuer: an RSA key in VAR_DIR, published as a JWKS."""

    def __init__(self, key_file: Path, issuer: str) -> None:
        self.key_file = key_file
        self.issuer = issuer

    def private_key(self) -> rsa.RSAPrivateKey:
        if not self.key_file.exists():
            self.key_file.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            self.key_file.touch(mode=0o600)
            self.key_file.write_bytes(pem)
        return serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)

    def _public_jwk_dict(self) -> dict[str, Any]:
        public = self.private_key().public_key()
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
        jwk.update(kid=_thumbprint(jwk), use="sig", alg="RS256")
        return jwk

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._public_jwk_dict()]}

    def mint(self, *, client_id: str, org_number: str, lifetime: datetime.timedelta, scope: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": settings.API_TOKEN_AUDIENCE,
            "sub": client_id,
            "client_id": client_id,
            "scope": scope,
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime.total_seconds()),
            "jti": str(uuid.uuid4()),
            ORG_PARENT_CLAIM: org_number,
        }
        jwk = self._public_jwk_dict()
        return jwt.encode(claims, self.private_key(), algorithm="RS256", headers={"typ": "at+jwt", "kid": jwk["kid"]})


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA key."""
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def local_issuer() -> LocalIssuer:
    return LocalIssuer(Path(settings.API_LOCAL_ISSUER_KEY_FILE), settings.API_LOCAL_ISSUER)


@lru_cache(maxsize=4)
def _local_keyset(path: str, modified: float) -> jwt.PyJWKSet:
    # Keyed on the file's mtime so a rotated key is picked up without a restart.
    return jwt.PyJWKSet.from_dict(local_issuer().jwks())


@lru_cache(maxsize=8)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=600, timeout=5)


def _signing_key(issuer: str, kid: str | None) -> Any:
    """The verification key for this issuer and key id, from the configured JWKS."""
    if settings.API_LOCAL_ISSUER_ENABLED and issuer == settings.API_LOCAL_ISSUER:
        key_file = Path(settings.API_LOCAL_ISSUER_KEY_FILE)
        if not key_file.exists():
            raise TokenError("the local development issuer has no key")
        keys = _local_keyset(str(key_file), key_file.stat().st_mtime)
    elif issuer == settings.HELSEID_ISSUER and settings.HELSEID_JWKS_URL:
        if not kid:
            raise TokenError("token has no kid")
        try:
            return _jwks_client(settings.HELSEID_JWKS_URL).get_signing_key(kid).key
        except jwt.PyJWKClientError as error:
            raise TokenError(f"no key {kid!r} at the issuer's JWKS: {error}") from None
    elif issuer == settings.HELSEID_ISSUER and settings.HELSEID_JWKS_FILE:
        keys = jwt.PyJWKSet.from_dict(json.loads(Path(settings.HELSEID_JWKS_FILE).read_text()))
    else:
        raise TokenError(f"unknown issuer {issuer!r}")
    for key in keys.keys:
        if kid is None or key.key_id == kid:
            return key.key
    raise TokenError(f"no key {kid!r} for issuer {issuer!r}")


# -- verification -------------------------------------------------------------------------------


def verify_access_token(token: str) -> TokenClient:
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise TokenError(f"malformed token: {error}") from None
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise TokenError(f"algorithm {header.get('alg')!r} not allowed")
    if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        raise TokenError(f"typ {header.get('typ')!r} is not at+jwt")
    issuer = unverified.get("iss")
    if not isinstance(issuer, str):
        raise TokenError("token has no issuer")
    key = _signing_key(issuer, header.get("kid"))
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=ALLOWED_ALGORITHMS,
            audience=settings.API_TOKEN_AUDIENCE,
            issuer=issuer,
            leeway=settings.API_TOKEN_LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.PyJWTError as error:
        raise TokenError(f"{type(error).__name__}: {error}") from None
    scope = claims.get("scope", "")
    if isinstance(scope, str):
        scopes = frozenset(scope.split())
    elif isinstance(scope, list) and all(isinstance(item, str) for item in scope):
        scopes = frozenset(scope)
    else:
        raise TokenError("scope claim is neither text nor a list of text")
    if settings.API_REQUIRED_SCOPE not in scopes:
        raise TokenError(f"scope {settings.API_REQUIRED_SCOPE!r} missing")
    org_number = claims.get(ORG_PARENT_CLAIM)
    if not isinstance(org_number, str) or not org_number.isdigit() or len(org_number) != 9:
        raise TokenError("token has no organisation number claim")
    child = claims.get(ORG_CHILD_CLAIM)
    client_id = claims.get("client_id") or claims.get("sub")
    if not isinstance(client_id, str) or not client_id:
        raise TokenError("token has no client_id")
    return TokenClient(
        client_id=client_id,
        org_number=org_number,
        child_org_number=child if isinstance(child, str) and child.isdigit() and len(child) == 9 else None,
        scopes=scopes,
    )


def new_client_id() -> str:
    return f"local-{secrets.token_hex(8)}"


# -- DPoP (RFC 9449): sender-constrained HelseID tokens -------------------------------------------------

DPOP_ALGORITHMS = ["ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"]
DPOP_MAX_PROOF_BYTES = 8192
DPOP_MAX_JTI_LENGTH = 256


def dpop_binding(token: str) -> str | None:
    """The key thumbprint a token is bound to (`cnf.jkt`), or None for a plain bearer token.

    Call only after verify_access_token accepted the token: this reads the claims without checking
    the signature again.
    """
    claims = jwt.decode(token, options={"verify_signature": False})
    confirmation = claims.get("cnf")
    if confirmation is None:
        return None
    jkt = confirmation.get("jkt") if isinstance(confirmation, dict) else None
    if not isinstance(jkt, str) or not jkt:
        raise TokenError("token has a cnf claim without a jkt")
    return jkt


def _normalized_uri(uri: str) -> tuple[str, str, str]:
    """Scheme, authority and path, compared without query or fragment (RFC 9449 4.3, step 9)."""
    parts = urllib.parse.urlsplit(uri)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise TokenError("DPoP proof htu has a bad port") from None
    host = (parts.hostname or "").lower()
    default_port = {"https": 443, "http": 80}.get(scheme)
    authority = host if port in (None, default_port) else f"{host}:{port}"
    return scheme, authority, urllib.parse.unquote(parts.path or "/")


def verify_dpop_proof(proof: str | None, *, access_token: str, jkt: str, method: str, url: str) -> None:
    """Check a DPoP proof for a request with a DPoP-bound access token; raise TokenError if it fails.

    The proof must be a JWT of typ dpop+jwt, signed (asymmetrically) with the public key in its own
    `jwk` header, whose thumbprint is the token's cnf.jkt; name this request's method (htm) and URI
    (htu); be issued within DPOP_PROOF_MAX_AGE_SECONDS (iat); carry the access token's hash (ath);
    and have a jti never seen before (kept in the shared cache for as long as the proof is valid).
    """
    if not proof:
        raise TokenError("DPoP proof missing")
    if "," in proof or len(proof) > DPOP_MAX_PROOF_BYTES:
        raise TokenError("exactly one DPoP proof expected")
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError:
        raise TokenError("DPoP proof is malformed") from None
    if header.get("typ") != "dpop+jwt":
        raise TokenError(f"DPoP proof typ {header.get('typ')!r} is not dpop+jwt")
    algorithm = header.get("alg")
    if algorithm not in DPOP_ALGORITHMS:
        raise TokenError(f"DPoP proof algorithm {algorithm!r} not allowed")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise TokenError("DPoP proof has no jwk header")
    if PRIVATE_MEMBERS.intersection(jwk):
        raise TokenError("DPoP proof's jwk is not a public key")
    try:
        key = jwt.PyJWK.from_dict(jwk, algorithm=algorithm).key
        thumbprint = jwk_thumbprint(jwk)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise TokenError("DPoP proof's jwk is not a usable key") from None
    leeway = settings.API_TOKEN_LEEWAY_SECONDS
    try:
        claims = jwt.decode(
            proof,
            key,
            algorithms=[algorithm],
            leeway=leeway,
            options={"require": ["jti", "htm", "htu", "iat"], "verify_aud": False},
        )
    except jwt.PyJWTError as error:
        raise TokenError(f"DPoP proof refused: {type(error).__name__}") from None
    if not hmac.compare_digest(thumbprint, jkt):
        raise TokenError("DPoP proof key is not the key the token is bound to (cnf.jkt)")
    if claims["htm"] != method:
        raise TokenError(f"DPoP proof htm {claims['htm']!r} is not {method}")
    if not isinstance(claims["htu"], str) or _normalized_uri(claims["htu"]) != _normalized_uri(url):
        raise TokenError("DPoP proof htu is not this request's URI")
    issued_at = claims["iat"]
    now = time.time()
    if not isinstance(issued_at, int | float) or issued_at > now + leeway:
        raise TokenError("DPoP proof issued in the future")
    max_age = settings.DPOP_PROOF_MAX_AGE_SECONDS
    if issued_at < now - max_age - leeway:
        raise TokenError(f"DPoP proof older than {max_age} s")
    expected_ath = base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
    ath = claims.get("ath")
    if not isinstance(ath, str) or not hmac.compare_digest(ath, expected_ath):
        raise TokenError("DPoP proof ath is not the hash of this access token")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= DPOP_MAX_JTI_LENGTH:
        raise TokenError("DPoP proof jti is missing or too long")
    # Last, so that a proof refused for another reason does not use up its jti. cache.add is atomic on
    # Redis and the database cache: of two requests with the same proof, one gets through.
    replay_key = "dpop-jti:" + hashlib.sha256(f"{jkt}|{jti}".encode()).hexdigest()
    if not cache.add(replay_key, 1, timeout=max_age + 2 * leeway + 1):
        raise TokenError("DPoP proof replayed (jti seen before)")
