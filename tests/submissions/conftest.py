"""Fixtures for intake tests: valid messages to start from, real tokens and an HTTP client for the API.

Tokens are minted by the portal's local development issuer with a key file per test and
go through the same verification as HelseID tokens; bad tokens are built by hand.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.test import Client

from portal.lib.identity import with_check_digits
from portal.models import Submitter
from submissions import intake
from submissions.auth import ORG_CHILD_CLAIM, ORG_PARENT_CLAIM, local_issuer
from submissions.models import ApiClient

TODAY = datetime.date.today()
# A finished year: every date in it is in the past, and a full period for it starts on 1 January.
YEAR = TODAY.year - 1
KPR_PRODUCTION, KPR_VALIDATION = 122612, 171479
NPR_PRODUCTION, NPR_VALIDATION = 94378, 121017
FHI_HER_ID = 85217


def identity_number(birth: str, *, individual: int = 100) -> str:
    """An 11-digit number for `birth` (DDMMYY, with test-data offsets already added) with real check digits."""
    # Some individual numbers have no valid check digits (a remainder of 10): take the next that does.
    for candidate in range(individual, 1000):
        number = with_check_digits(f"{birth}{candidate:03d}")
        if number is not None:
            return number
    raise ValueError(birth)


NATIONAL_ID = identity_number("010190")  # born 1 January 1990
D_NUMBER = identity_number("410190")  # day + 40
SYNTHETIC_ID = identity_number("018190")  # month + 80 (Skatteetaten's Tenor test data)


@pytest.fixture(autouse=True)
def _fresh_municipality_cache():
    # intake caches "number valid in year" per process; tests that load or flush the code list must not
    # see each other's answers.
    intake._municipality_cache.clear()
    yield
    intake._municipality_cache.clear()


# -- messages ------------------------------------------------------------------------------------


def kpr_record(record_id: str = "kpr-1", **overrides: Any) -> dict[str, Any]:
    record = {
        "record_id": record_id,
        "operation": "upsert",
        "patient_ref": f"p-{record_id}",
        "event_date": f"{YEAR}-03-01",
        "unit_id": "hjemmetjenesten",
        "service_code": "10",
        "municipality_number": "0301",
    }
    record.update(overrides)
    return record


def npr_record(record_id: str = "npr-1", **overrides: Any) -> dict[str, Any]:
    record = {
        "record_id": record_id,
        "operation": "upsert",
        "patient_ref": f"p-{record_id}",
        "event_date": f"{YEAR}-03-01",
        "unit_id": "poliklinikk",
        "contact_kind": "outpatient",
        "condition_codes": ["F32.1"],
        "procedure_codes": ["ZXA10"],
    }
    record.update(overrides)
    return record


def ident_record(patient_ref: str = "p-1", national_id: str = NATIONAL_ID, **overrides: Any) -> dict[str, Any]:
    record = {"patient_ref": patient_ref, "national_id": national_id}
    record.update(overrides)
    return record


def delete(record_id: str) -> dict[str, Any]:
    return {"record_id": record_id, "operation": "delete"}


def full_period(year: int = YEAR) -> dict[str, str]:
    return {"start": f"{year}-01-01", "end": f"{year}-12-31"}


def register_of(submitter: Submitter) -> str:
    return "KPR" if submitter.kind == Submitter.Kind.MUNICIPALITY else "NPR"


def build_message(
    submitter: Submitter,
    *,
    register: str | None = None,
    kind: str = "activity",
    records: list[dict[str, Any]] | None = None,
    validation: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid message from `submitter`: KPR for municipalities, NPR otherwise; one default record."""
    register = register or register_of(submitter)
    if records is None:
        if kind == "ident":
            records = [ident_record()]
        else:
            records = [kpr_record() if register == "KPR" else npr_record()]
    sender: dict[str, Any] = {"org_number": submitter.org_number}
    if submitter.her_id is not None:
        sender["her_id"] = submitter.her_id
    if submitter.kind == Submitter.Kind.MUNICIPALITY:
        sender["municipality_number"] = submitter.municipality_number
    production, validation_address = {
        "KPR": (KPR_PRODUCTION, KPR_VALIDATION),
        "NPR": (NPR_PRODUCTION, NPR_VALIDATION),
    }[register]
    message: dict[str, Any] = {
        "message_id": str(uuid.uuid4()),
        "register": register,
        "kind": kind,
        "schema_version": "1.0",
        "mode": "change",
        "recipient": {"org_her_id": FHI_HER_ID, "service_her_id": validation_address if validation else production},
        "sender": sender,
        "system": {"name": "Gerica", "version": "24.2"},
        "contacts": [
            {"name": "Kari Teknisk", "email": "kari@example.no", "mobile": "+4791234567", "types": [1]},
        ],
        "records": records,
    }
    if overrides.get("mode") == "full" and "period" not in overrides:
        message["period"] = full_period()
    message.update(overrides)
    return message


@pytest.fixture
def message(world):
    """`message(**overrides)`: a valid message dict; from the municipality (KPR) unless `submitter=` is given."""

    def make(submitter: Submitter | None = None, **overrides: Any) -> dict[str, Any]:
        return build_message(submitter or world.municipality, **overrides)

    return make


# -- tokens --------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


@dataclass
class Tokens:
    """Mints real tokens from the local issuer, and every kind of bad one."""

    issuer: Any
    clients: dict[str, ApiClient] = field(default_factory=dict)

    BAD_KINDS = (
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "alg_none",
        "hs256_with_public_key",
        "unknown_kid",
        "other_rsa_key",
        "wrong_typ",
        "missing_scope",
        "missing_org",
        "unregistered_client",
        "deactivated_client",
        "malformed",
    )

    def client_for(self, org_number: str) -> ApiClient:
        if org_number not in self.clients:
            self.clients[org_number] = ApiClient.objects.create(
                name=f"EPJ for {org_number}", client_id=f"test-{org_number}", org_number=org_number
            )
        return self.clients[org_number]

    def valid(self, org_number: str, *, child_org_number: str | None = None) -> str:
        client = self.client_for(org_number)
        if child_org_number is None:
            return self.issuer.mint(
                client_id=client.client_id,
                org_number=org_number,
                lifetime=datetime.timedelta(minutes=10),
                scope=settings.API_REQUIRED_SCOPE,
            )
        claims = self.claims(org_number)
        claims[ORG_CHILD_CLAIM] = child_org_number
        return self.sign(claims)

    def claims(self, org_number: str) -> dict[str, Any]:
        """The claims of a valid token, to change one at a time."""
        return jwt.decode(self.valid(org_number), options={"verify_signature": False})

    def kid(self) -> str:
        return self.issuer.jwks()["keys"][0]["kid"]

    def sign(self, claims: dict[str, Any], *, key: Any = None, **header: Any) -> str:
        headers = {"typ": "at+jwt", "kid": self.kid(), **header}
        return jwt.encode(claims, key or self.issuer.private_key(), algorithm="RS256", headers=headers)

    def sign_raw(self, header: Any, claims: Any) -> str:
        """RS256-sign any JSON header and payload with the issuer's key (PyJWT refuses odd claim types)."""
        signing_input = _unsigned(header, claims)
        signature = self.issuer.private_key().sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64(signature)

    def bad(self, kind: str, org_number: str) -> str:
        now = int(time.time())
        claims = self.claims(org_number)
        if kind == "expired":
            claims.update(iat=now - 7200, nbf=now - 7200, exp=now - 3600)
            return self.sign(claims)
        if kind == "not_yet_valid":
            claims.update(nbf=now + 3600, exp=now + 7200)
            return self.sign(claims)
        if kind == "wrong_audience":
            return self.sign({**claims, "aud": "someone-else"})
        if kind == "wrong_issuer":
            return self.sign({**claims, "iss": "https://evil.example"})
        if kind == "alg_none":
            return _unsigned({"alg": "none", "typ": "at+jwt", "kid": self.kid()}, claims) + "."
        if kind == "hs256_with_public_key":
            # The classic confusion attack: HMAC keyed with the published RSA public key.
            public_pem = (
                self.issuer.private_key()
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            )
            signing_input = _unsigned({"alg": "HS256", "typ": "at+jwt", "kid": self.kid()}, claims)
            signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
            return signing_input + "." + _b64(signature)
        if kind == "unknown_kid":
            return self.sign(claims, key=_other_key(), kid="some-other-key")
        if kind == "other_rsa_key":
            return self.sign(claims, key=_other_key())  # the issuer's kid, another key's signature
        if kind == "wrong_typ":
            return self.sign(claims, typ="JWT")
        if kind == "missing_scope":
            return self.sign({**claims, "scope": "fhi:registerportal/read"})
        if kind == "missing_org":
            claims.pop(ORG_PARENT_CLAIM)
            return self.sign(claims)
        if kind == "unregistered_client":
            return self.sign({**claims, "client_id": "not-registered", "sub": "not-registered"})
        if kind == "deactivated_client":
            ApiClient.objects.filter(client_id=claims["client_id"]).update(is_active=False)
            return self.sign(claims)
        if kind == "malformed":
            return "not-a-jwt"
        raise ValueError(kind)


@functools.cache
def _other_key() -> rsa.RSAPrivateKey:
    """An RSA key the issuer does not publish."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def issuer_pem() -> bytes:
    # Generating a 2048-bit RSA key takes a noticeable fraction of a second: one key per session,
    # written to each test's own key file.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


_loaded_keys: dict[bytes, Any] = {}


@pytest.fixture
def issuer(settings, tmp_path, issuer_pem, monkeypatch):
    key_file = tmp_path / "local-issuer-key.pem"
    key_file.write_bytes(issuer_pem)
    key_file.chmod(0o600)
    settings.API_LOCAL_ISSUER_KEY_FILE = str(key_file)
    settings.API_LOCAL_ISSUER_ENABLED = True

    # Parsing a PEM private key validates the RSA key (~60 ms), and the issuer parses the file for every
    # token it mints and for every new key file it verifies against. Remember the parse of identical
    # bytes; the file is still read each time, and signatures are still made and checked.
    parse = serialization.load_pem_private_key

    def parse_once(data: bytes, password: bytes | None, **options: Any) -> Any:
        if data not in _loaded_keys:
            _loaded_keys[data] = parse(data, password, **options)
        return _loaded_keys[data]

    monkeypatch.setattr(serialization, "load_pem_private_key", parse_once)
    return local_issuer()


@pytest.fixture
def tokens(issuer, db) -> Tokens:
    return Tokens(issuer)


# -- HTTP ----------------------------------------------------------------------------------------

URL = "/api/v1/messages"


@dataclass
class IntakeApi:
    """POSTs messages through Django's test client with a real bearer token."""

    client: Client
    tokens: Tokens
    default_org: str

    def post(
        self,
        body: dict[str, Any] | list[Any] | str | bytes,
        *,
        org: str | None = None,
        token: str | None = None,
        authorization: str | None = None,
        content_type: str = "application/json",
        query: str = "",
    ):
        """Send `body`; the token is for `org`, else the message's own sender, else the municipality."""
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        if authorization is None:
            if token is None:
                token = self.tokens.valid(org or _sender_org(body) or self.default_org)
            authorization = f"Bearer {token}"
        headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
        return self.client.generic("POST", URL + query, data=data, content_type=content_type, **headers)


def _sender_org(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("sender"), dict):
        org = body["sender"].get("org_number")
        if isinstance(org, str) and len(org) == 9 and org.isdigit():
            return org
    return None


@pytest.fixture
def api(world, tokens) -> IntakeApi:
    return IntakeApi(Client(raise_request_exception=False), tokens, world.municipality.org_number)


def findings_of(response, rule_id: str | None = None) -> list[dict[str, Any]]:
    items = response.json()["findings"]
    return [f for f in items if rule_id is None or f["rule_id"] == rule_id]


def rule_ids(response) -> set[str]:
    return {f["rule_id"] for f in response.json()["findings"]}
