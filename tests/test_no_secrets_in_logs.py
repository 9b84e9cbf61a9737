"""No password, token or national identity number ever reaches a log or the audit log.

One test runs the portal's main flows with every logger at DEBUG (SQL included): signing in with a
password and with HelseID, failing to sign in, reading a submitter's pages and receipts, sending
ident messages with identity numbers through the API (bearer and DPoP) and the test page, refused
tokens, signing out. Then it searches everything that was logged, and every audit row, for them.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection
from django.test import Client
from django.urls import reverse

from portal.lib.jwk import b64url, jwk_thumbprint
from portal.models import AuditEvent
from submissions.auth import local_issuer
from submissions.models import ApiClient
from tests.conftest import PASSWORD
from tests.oidc_provider import person
from tests.portal.test_oidc import KARI, sign_in
from tests.submissions.test_submission_pages import kpr_message, send

pytestmark = pytest.mark.django_db

NATIONAL_ID = "15057512345"  # the form of one; check digits do not matter for what is logged
D_NUMBER = "55057512345"
WRONG_PASSWORD = "Sommer2026!Hemmelig"


def ident_message(submitter, *numbers: str) -> dict:
    message = kpr_message(submitter)
    message["kind"] = "ident"
    message["records"] = [{"patient_ref": f"p{i}", "national_id": number} for i, number in enumerate(numbers)]
    return message


@pytest.fixture
def everything_logged(caplog):
    """Every logger at DEBUG, and SQL statements logged with their parameters."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    connection.force_debug_cursor = True
    yield caplog
    connection.force_debug_cursor = False


def test_main_flows_log_no_password_token_or_identity_number(world, helseid, settings, tmp_path, everything_logged):
    secrets_seen: list[str] = [PASSWORD, WRONG_PASSWORD, NATIONAL_ID, D_NUMBER, KARI]

    # Signing in and out with a password, and failing to.
    client = Client()
    client.post(reverse("portal:login"), {"username": "kommune", "password": WRONG_PASSWORD})
    client.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD})
    submission = send(world.municipality, kpr_message(world.municipality))
    for path in (
        reverse("portal:home"),
        reverse("portal:submitter_detail", args=[world.municipality.pk]),
        reverse("submissions:submission_list", args=[world.municipality.pk]),
        reverse("submissions:submission_detail", args=[world.municipality.pk, submission.pk]),
        reverse("portal:submitter_detail", args=[world.specialist.pk]),  # refused
    ):
        client.get(path)
    # The test page with identity numbers in the message.
    client.post(
        reverse("submissions:test_message"),
        {"body": json.dumps(ident_message(world.municipality, NATIONAL_ID, D_NUMBER))},
    )
    client.post(reverse("portal:logout"))

    # HelseID: the ID token carries the national identity number.
    helseid_client = Client()
    sign_in(helseid_client, helseid, person(KARI))
    helseid_client.get(reverse("portal:home"))
    helseid_client.post(reverse("portal:logout"))

    # The intake API with a bearer token, then with a DPoP-bound one.
    settings.API_LOCAL_ISSUER_KEY_FILE = str(tmp_path / "issuer.pem")
    settings.API_LOCAL_ISSUER_ENABLED = True
    ApiClient.objects.create(name="EPJ", client_id="epj-1", org_number=world.municipality.org_number)
    token = local_issuer().mint(
        client_id="epj-1",
        org_number=world.municipality.org_number,
        lifetime=datetime.timedelta(minutes=5),
        scope=settings.API_REQUIRED_SCOPE,
    )
    api = Client()
    body = json.dumps(ident_message(world.municipality, NATIONAL_ID, D_NUMBER, "01234567890"))
    api.post("/api/v1/messages", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    api.post("/api/v1/messages", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}x")
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(cnf={"jkt": jwk_thumbprint(jwk)}, jti=uuid.uuid4().hex)
    bound = jwt.encode(
        claims,
        local_issuer().private_key(),
        algorithm="RS256",
        headers={"typ": "at+jwt", "kid": local_issuer().jwks()["keys"][0]["kid"]},
    )
    proof_claims = {
        "jti": uuid.uuid4().hex,
        "htm": "POST",
        "htu": "http://testserver/api/v1/messages",
        "iat": int(time.time()),
        "ath": b64url(hashlib.sha256(bound.encode()).digest()),
    }
    proof = jwt.encode(proof_claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})
    for _ in range(2):  # the second is a replay, refused
        api.post(
            "/api/v1/messages",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"DPoP {bound}",
            HTTP_DPOP=proof,
        )
    secrets_seen += [token, bound, proof]
    # Whatever the provider issued: ID tokens and the client's assertions.
    secrets_seen += helseid.seen.issued

    logged = everything_logged.text + "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}" for record in everything_logged.records
    )
    assert "INSERT INTO" in logged  # SQL was logged too: the search covers what the database was sent
    audit_rows = repr(list(AuditEvent.objects.values()))
    assert "sign_in_failed" in audit_rows and "authorization_failed" in audit_rows
    for secret in secrets_seen:
        for where, text in (("log", logged), ("audit log", audit_rows)):
            assert secret not in text, f"a secret ({secret[:6]}...) is in the {where}"
            for part in secret.split(".")[1:2]:  # a JWT's payload on its own
                assert part not in text, f"a token's payload is in the {where}"
