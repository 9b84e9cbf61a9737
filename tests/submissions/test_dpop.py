"""DPoP-bound HelseID tokens on the intake API (RFC 9449): a matrix of bad tokens and proofs.

Tokens come from a HelseID-like issuer whose JWKS the portal reads from a file; the client holds
an EC key, proves possession with a DPoP proof per request, and the token names the key's
thumbprint in cnf.jkt. Each bad case must answer 401 and be logged without the token or proof.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import Client

from portal.lib.jwk import jwk_thumbprint
from submissions.auth import ORG_PARENT_CLAIM
from submissions.models import ApiClient

ISSUER = "https://helseid-sts.test.nhn.no"
URL = "/api/v1/messages"
HTU = "http://testserver/api/v1/messages"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "issuer": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "stranger": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "client": ec.generate_private_key(ec.SECP256R1()),
        "other_client": ec.generate_private_key(ec.SECP256R1()),
    }


def public_jwk(key: Any) -> dict[str, Any]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))


@dataclass
class Dpop:
    keys: dict[str, Any]
    org_number: str
    client_id: str = "helseid-epj-client"

    def token(self, *, key: str = "client", header: dict[str, Any] | None = None, **changes: Any) -> str:
        """A HelseID access token bound to the client's key; `changes` alter claims (None removes one)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": "fhi:registerportal",
            "client_id": self.client_id,
            "sub": self.client_id,
            "scope": "fhi:registerportal/intake",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            ORG_PARENT_CLAIM: self.org_number,
            "cnf": {"jkt": jwk_thumbprint(public_jwk(self.keys[key]))},
        }
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        signing_key = self.keys["stranger"] if (header or {}).get("kid") == "unknown" else self.keys["issuer"]
        return jwt.encode(
            claims, signing_key, algorithm="RS256", headers={"typ": "at+jwt", "kid": "issuer-key", **(header or {})}
        )

    def proof(
        self,
        token: str,
        *,
        key: str = "client",
        jwk_of: str | None = None,
        typ: str = "dpop+jwt",
        **changes: Any,
    ) -> str:
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": "POST",
            "htu": HTU,
            "iat": int(time.time()),
            "ath": b64url(hashlib.sha256(token.encode()).digest()),
        }
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        header = {"typ": typ, "jwk": public_jwk(self.keys[jwk_of or key])}
        return jwt.encode(claims, self.keys[key], algorithm="ES256", headers=header)


@pytest.fixture
def dpop(keys, world, settings, tmp_path) -> Dpop:
    jwks = {"keys": [{**public_jwk(keys["issuer"]), "kid": "issuer-key", "use": "sig", "alg": "RS256"}]}
    jwks_file = tmp_path / "helseid-jwks.json"
    jwks_file.write_text(json.dumps(jwks))
    settings.HELSEID_ISSUER = ISSUER
    settings.HELSEID_JWKS_URL = ""
    settings.HELSEID_JWKS_FILE = str(jwks_file)
    settings.API_TOKEN_AUDIENCE = "fhi:registerportal"
    settings.API_REQUIRED_SCOPE = "fhi:registerportal/intake"
    ApiClient.objects.create(name="EPJ", client_id="helseid-epj-client", org_number=world.municipality.org_number)
    return Dpop(keys, world.municipality.org_number)


def post(token: str | None, proof: str | None, *, scheme: str = "DPoP", path: str = URL, **extra: str):
    headers = {}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"{scheme} {token}"
    if proof is not None:
        headers["HTTP_DPOP"] = proof
    # An empty object: the schema answer (422) shows the request got past authentication.
    return Client().generic("POST", path, data=b"{}", content_type="application/json", **headers, **extra)


def test_a_valid_dpop_bound_token_and_proof_get_through(dpop):
    token = dpop.token()
    response = post(token, dpop.proof(token))
    assert response.status_code == 422, response.content


def test_the_query_string_is_not_part_of_htu(dpop):
    token = dpop.token()
    response = post(token, dpop.proof(token), path=URL + "?validate_only=true")
    assert response.status_code == 422


def test_plain_bearer_tokens_still_work_without_dpop(dpop):
    token = dpop.token(cnf=None)
    assert post(token, None, scheme="Bearer").status_code == 422


def now() -> int:
    return int(time.time())


# Each case: (token changes, how to make the proof, extra request options). The proof maker gets the
# fixture and the token.
BAD = {
    # -- the access token ---------------------------------------------------------------------------
    "token alg none": lambda d: (
        _unsigned_token(d),
        None,
    ),
    "token wrong audience": lambda d: (d.token(aud="someone-else"), None),
    "token wrong issuer": lambda d: (d.token(iss="https://evil.example"), None),
    "token expired": lambda d: (d.token(iat=now() - 900, nbf=now() - 900, exp=now() - 300), None),
    "token not valid yet (nbf)": lambda d: (d.token(nbf=now() + 600, exp=now() + 900), None),
    "token signed by an unknown key": lambda d: (d.token(header={"kid": "unknown"}), None),
    "token typ not at+jwt": lambda d: (d.token(header={"typ": "JWT"}), None),
    "token without the intake scope": lambda d: (d.token(scope="fhi:registerportal/read"), None),
    "token bound to another key (thumbprint mismatch)": lambda d: (d.token(key="other_client"), None),
    # -- the proof ------------------------------------------------------------------------------------
    "proof missing": lambda d: (d.token(), "MISSING"),
    "proof typ not dpop+jwt": lambda d: (d.token(), {"typ": "JWT"}),
    "proof wrong ath": lambda d: (d.token(), {"ath": b64url(hashlib.sha256(b"another token").digest())}),
    "proof without ath": lambda d: (d.token(), {"ath": None}),
    "proof wrong htm": lambda d: (d.token(), {"htm": "GET"}),
    "proof wrong htu": lambda d: (d.token(), {"htu": "http://testserver/api/v1/other"}),
    "proof htu on another host": lambda d: (d.token(), {"htu": "https://evil.example/api/v1/messages"}),
    "proof too old": lambda d: (d.token(), {"iat": now() - 600}),
    "proof from the future": lambda d: (d.token(), {"iat": now() + 600}),
    "proof signed by another key than its jwk": lambda d: (d.token(), {"key": "other_client", "jwk_of": "client"}),
    "proof by another key than the token's": lambda d: (d.token(), {"key": "other_client"}),
    "proof alg none": lambda d: (d.token(), "NONE"),
    "proof with a private key in jwk": lambda d: (d.token(), "PRIVATE"),
    "two proofs": lambda d: (d.token(), "TWO"),
    "proof without jti": lambda d: (d.token(), {"jti": None}),
    # -- schemes --------------------------------------------------------------------------------------
    "bound token sent as Bearer": lambda d: (d.token(), "BEARER"),
    "unbound token sent as DPoP": lambda d: (d.token(cnf=None), {}),
}


# Why each case is refused: a refusal for another reason would hide a missing check.
REASONS = {
    "token alg none": "algorithm 'none' not allowed",
    "token wrong audience": "InvalidAudienceError",
    "token wrong issuer": "unknown issuer",
    "token expired": "ExpiredSignatureError",
    "token not valid yet (nbf)": "ImmatureSignatureError",
    "token signed by an unknown key": "no key 'unknown'",
    "token typ not at+jwt": "is not at+jwt",
    "token without the intake scope": "scope 'fhi:registerportal/intake' missing",
    "token bound to another key (thumbprint mismatch)": "not the key the token is bound to",
    "proof missing": "DPoP proof missing",
    "proof typ not dpop+jwt": "is not dpop+jwt",
    "proof wrong ath": "ath is not the hash",
    "proof without ath": "ath is not the hash",
    "proof wrong htm": "htm 'GET' is not POST",
    "proof wrong htu": "htu is not this request's URI",
    "proof htu on another host": "htu is not this request's URI",
    "proof too old": "older than 60 s",
    "proof from the future": "ImmatureSignatureError",
    "proof signed by another key than its jwk": "InvalidSignatureError",
    "proof by another key than the token's": "not the key the token is bound to",
    "proof alg none": "algorithm 'none' not allowed",
    "proof with a private key in jwk": "jwk is not a public key",
    "two proofs": "exactly one DPoP proof",
    "proof without jti": "MissingRequiredClaimError",
    "bound token sent as Bearer": "DPoP-bound token sent with the Bearer scheme",
    "unbound token sent as DPoP": "not DPoP-bound",
}


def _unsigned_token(d: Dpop) -> str:
    token = d.token()
    claims = jwt.decode(token, options={"verify_signature": False})
    header = b64url(json.dumps({"alg": "none", "typ": "at+jwt", "kid": "issuer-key"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def _make_request(d: Dpop, case: str):
    token, proof_spec = BAD[case](d)
    scheme = "DPoP"
    if proof_spec is None:
        proof = d.proof(token)
    elif proof_spec == "MISSING":
        proof = None
    elif proof_spec == "BEARER":
        proof, scheme = d.proof(token), "Bearer"
    elif proof_spec == "NONE":
        good = d.proof(token)
        header = b64url(json.dumps({"alg": "none", "typ": "dpop+jwt", "jwk": public_jwk(d.keys["client"])}).encode())
        proof = f"{header}.{good.split('.')[1]}."
    elif proof_spec == "PRIVATE":
        private = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(d.keys["client"]))
        claims = jwt.decode(d.proof(token), options={"verify_signature": False})
        proof = jwt.encode(claims, d.keys["client"], algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": private})
    elif proof_spec == "TWO":
        proof = d.proof(token) + ", " + d.proof(token)
    else:
        proof = d.proof(token, **proof_spec)
    return token, proof, post(token, proof, scheme=scheme)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_tokens_and_proofs_are_refused_and_logged_without_them(dpop, case, caplog):
    caplog.set_level(logging.DEBUG)
    token, proof, response = _make_request(dpop, case)
    assert response.status_code == 401, (case, response.content)
    assert response.json()["error"] == "unauthorized"
    assert REASONS[case] in response.json()["detail"]
    assert response["WWW-Authenticate"].split()[0] in ("DPoP", "Bearer")
    refusals = [r for r in caplog.records if r.name == "submissions.api" and "refused" in r.getMessage()]
    assert refusals, case
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in (token, proof or "", *token.split(".")[1:2], *(proof or "").split(".")[1:2]):
        if secret:
            assert secret not in logged
            assert secret not in response.content.decode()


def test_a_proof_is_accepted_once(dpop, caplog):
    token = dpop.token()
    proof = dpop.proof(token)
    assert post(token, proof).status_code == 422
    caplog.set_level(logging.DEBUG)
    replay = post(token, proof)
    assert replay.status_code == 401
    assert "replayed" in replay.json()["detail"]
    assert proof not in caplog.text and token not in caplog.text
    # A fresh proof with the same token and key is fine.
    assert post(token, dpop.proof(token)).status_code == 422


def test_a_proof_refused_for_another_reason_does_not_use_up_its_jti(dpop):
    token = dpop.token()
    jti = uuid.uuid4().hex
    assert post(token, dpop.proof(token, jti=jti, htm="GET")).status_code == 401
    assert post(token, dpop.proof(token, jti=jti)).status_code == 422


def test_refusals_name_the_dpop_scheme(dpop):
    token = dpop.token()
    response = post(token, dpop.proof(token, htm="PUT"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert "htm" in response.json()["detail"]


def test_the_thumbprint_follows_rfc_7638():
    # The example key and thumbprint of RFC 7638, section 3.1.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJE"
            "CPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
            "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
            "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
