"""POST /api/v1/messages end to end: real tokens, real HTTP through Django's test client, then the database."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time

import jwt
import pytest
from django.core.management import call_command
from django.test import Client

from portal.models import ContactPerson
from submissions import intake
from submissions.auth import local_issuer
from submissions.models import Record, RecordVersion, Submission
from tests.submissions.conftest import (
    KPR_VALIDATION,
    NPR_VALIDATION,
    Tokens,
    kpr_record,
    npr_record,
)

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def database_state() -> dict[str, list]:
    """Everything intake writes, to show that a request changed nothing."""
    return {
        "submissions": list(Submission.objects.order_by("pk").values()),
        "records": list(Record.objects.order_by("pk").values()),
        "versions": list(RecordVersion.objects.order_by("pk").values()),
        "contacts": list(ContactPerson.objects.order_by("pk").values()),
    }


# -- a new message, the same again, a reused message_id --------------------------------------------


def test_a_new_message_is_created_with_its_receipt(api, message, world):
    sent = message()
    response = api.post(sent)

    assert response.status_code == 201
    receipt = response.json()
    assert receipt["message_id"] == sent["message_id"]
    assert receipt["status"] == "accepted"
    assert receipt["validate_only"] is False
    assert receipt["counts"] == {"received": 1, "created": 1, "updated": 0, "deleted": 0, "unchanged": 0, "invalid": 0}
    assert receipt["findings"] == []
    submission = Submission.objects.get()
    assert submission.submitter == world.municipality
    assert str(submission.message_id) == sent["message_id"]
    assert submission.client_org_number == world.municipality.org_number
    assert submission.client_id == f"test-{world.municipality.org_number}"
    assert submission.body_sha256 == hashlib.sha256(json.dumps(sent).encode()).hexdigest()
    assert (submission.register, submission.kind, submission.mode, submission.channel) == (
        "KPR",
        "activity",
        "change",
        "api",
    )
    assert (submission.system_name, submission.system_version) == ("Gerica", "24.2")
    assert submission.status == Submission.Status.ACCEPTED
    assert submission.receipt == receipt
    assert Record.objects.get().record_id == "kpr-1"


def test_the_same_message_again_gets_the_first_receipt_and_changes_nothing(api, message):
    sent = message()
    first = api.post(sent)
    before = database_state()

    again = api.post(sent, token=api.tokens.valid(sent["sender"]["org_number"]))  # a new token, same sender

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert database_state() == before


def test_a_reused_message_id_with_another_body_is_a_conflict(api, message):
    sent = message()
    api.post(sent)
    before = database_state()

    changed = {**sent, "records": [kpr_record(service_code="6")]}
    response = api.post(changed)

    body = assert_error(response, 409, "message_id_reused")
    assert sent["message_id"] in body["detail"]
    assert database_state() == before


def test_message_ids_are_scoped_to_the_sending_organisation(api, message, world):
    # Another sender's message_id is not a replay: one sender can't probe another's ids.
    sent = message()
    api.post(sent)
    other = message(submitter=world.specialist, message_id=sent["message_id"])

    response = api.post(other)

    assert response.status_code == 201
    assert Submission.objects.count() == 2


# -- schema violations -----------------------------------------------------------------------------


def _unknown_field(m):
    m["colour"] = "blue"


def _unknown_record_field(m):
    m["records"][0]["colour"] = "blue"


def _date_as_number(m):
    m["records"][0]["event_date"] = 20240301


def _impossible_date(m):
    m["records"][0]["event_date"] = "2024-02-30"


def _her_id_as_text(m):
    m["recipient"]["org_her_id"] = "85217"  # strict: no coercion


def _missing_system(m):
    del m["system"]


def _missing_operation(m):
    del m["records"][0]["operation"]


def _bad_uuid(m):
    m["message_id"] = "not-a-uuid"


def _unknown_kind(m):
    m["kind"] = "activities"


def _full_without_period(m):
    m["mode"] = "full"


def _records_not_a_list(m):
    m["records"] = {"record_id": "kpr-1"}


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (_unknown_field, "$.colour"),
        (_unknown_record_field, "$.records[0].colour"),
        (_date_as_number, "$.records[0].event_date"),
        (_impossible_date, "$.records[0].event_date"),
        (_her_id_as_text, "$.recipient.org_her_id"),
        (_missing_system, "$.system"),
        (_missing_operation, "$.records[0].operation"),
        (_bad_uuid, "$.message_id"),
        (_unknown_kind, "$.kind"),
        (_full_without_period, "$"),
        (_records_not_a_list, "$.records"),
    ],
)
def test_schema_violations_are_422_with_json_paths(api, message, mutate, path):
    sent = message()
    mutate(sent)

    response = api.post(sent)

    assert response.status_code == 422, response.content
    receipt = response.json()
    assert receipt["status"] == "rejected"
    assert {f["rule_id"] for f in receipt["findings"]} == {"SCHEMA-001"}
    assert all(f["severity"] == "error" for f in receipt["findings"])
    assert path in [f["path"] for f in receipt["findings"]]
    assert all(f["message"] for f in receipt["findings"])
    assert not Record.objects.exists()


def test_a_schema_violation_in_a_record_names_the_record(api, message):
    sent = message(records=[kpr_record("a"), kpr_record("b", event_date="1. mars")])

    finding = api.post(sent).json()["findings"][0]

    assert (finding["path"], finding["record_id"]) == ("$.records[1].event_date", "b")


def test_a_422_from_an_identifiable_sender_is_kept_as_a_rejected_submission(api, message, world):
    sent = message()
    sent["records"][0]["colour"] = "blue"

    response = api.post(sent)

    assert response.status_code == 422
    submission = Submission.objects.get()
    assert submission.submitter == world.municipality
    assert submission.status == Submission.Status.REJECTED
    assert str(submission.message_id) == sent["message_id"]
    assert (submission.register, submission.kind, submission.mode) == ("KPR", "activity", "change")
    assert submission.receipt == response.json()
    assert submission.count_errors == 1
    assert not Record.objects.exists()


def test_a_422_resent_unchanged_is_422_again_and_stored_once(api, message):
    sent = message()
    sent["colour"] = "blue"
    first = api.post(sent)

    again = api.post(sent)

    assert (first.status_code, again.status_code) == (422, 422)
    assert again.json() == first.json()
    assert Submission.objects.count() == 1


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda m: m["sender"].update(org_number="974760673"), id="unregistered-organisation"),
        pytest.param(lambda m: m["sender"].update(org_number="974760674"), id="invalid-organisation-number"),
        pytest.param(lambda m: m.update(message_id="not-a-uuid"), id="no-message-id"),
        pytest.param(lambda m: m.pop("sender"), id="no-sender"),
    ],
)
def test_a_422_from_an_unknown_sender_is_not_stored(api, message, world, mutate):
    sent = message()
    sent["colour"] = "blue"
    mutate(sent)

    response = api.post(sent, org=world.municipality.org_number)

    assert response.status_code == 422
    assert response.json()["status"] == "rejected"
    assert not Submission.objects.exists()


def test_a_422_for_a_sender_the_client_may_not_send_for_is_not_stored(api, message, world):
    # Nobody can put rejected submissions into another organisation's list.
    sent = message()
    sent["colour"] = "blue"

    response = api.post(sent, org=world.specialist.org_number)

    assert response.status_code == 422
    assert not Submission.objects.exists()


def test_a_well_formed_message_from_an_unregistered_organisation_is_422_and_not_stored(api, message):
    sent = message()
    sent["sender"]["org_number"] = "974760673"

    response = api.post(sent, org="974760673")

    assert response.status_code == 422
    assert [f["rule_id"] for f in response.json()["findings"]] == ["SENDER-002"]
    assert not Submission.objects.exists()


# -- bodies that are not JSON, wrong content types, too large --------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="broken"),
        pytest.param(b"  ", id="blank"),
        pytest.param(b'{"message_id": "\xe6\xf8\xe5"}', id="latin-1"),
        pytest.param('{"message_id": "x"}'.encode("utf-16"), id="utf-16"),
        pytest.param(b'\xef\xbb\xbf{"message_id": "x"}', id="utf-8-bom"),
        pytest.param(b'{"message_id": "\xed\xa0\x80"}', id="utf-8-encoded-surrogate"),
        pytest.param(b'{"records": [' + b"9" * 5000 + b"]}", id="integer-beyond-python-digit-limit"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
    ],
)
def test_bodies_that_are_not_utf8_json_are_400(api, world, body):
    response = api.post(body, org=world.municipality.org_number)

    assert_error(response, 400, "invalid_json")
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_a_wrong_content_type_is_415(api, message, content_type):
    response = api.post(message(), content_type=content_type)

    assert_error(response, 415, "unsupported_media_type")
    assert not Submission.objects.exists()


def test_json_with_a_charset_parameter_is_accepted(api, message):
    response = api.post(message(), content_type="application/json; charset=utf-8")

    assert response.status_code == 201


def test_a_body_over_the_limit_is_413(api, message, settings):
    body = json.dumps(message()).encode()
    settings.INTAKE_MAX_BODY_BYTES = len(body) - 1

    response = api.post(body)

    assert_error(response, 413, "payload_too_large")
    assert not Submission.objects.exists()


def test_a_body_at_the_limit_is_accepted(api, message, settings):
    body = json.dumps(message()).encode()
    settings.INTAKE_MAX_BODY_BYTES = len(body)

    assert api.post(body).status_code == 201


def test_the_intake_limit_and_not_djangos_upload_limit_applies(api, message, settings):
    # DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) guards form posts; the intake reads the body itself.
    body = json.dumps(message()).encode() + b" " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)

    assert api.post(body).status_code == 201


def test_a_content_length_that_is_not_a_number_is_400(api, message, world):
    token = api.tokens.valid(world.municipality.org_number)
    response = api.client.generic(
        "POST",
        "/api/v1/messages",
        data=json.dumps(message()).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        CONTENT_LENGTH="many",
    )

    assert_error(response, 400, "bad_content_length")


# -- tokens ----------------------------------------------------------------------------------------

REFUSAL_REASONS = {
    "expired": "ExpiredSignatureError",
    "not_yet_valid": "ImmatureSignatureError",
    "wrong_audience": "InvalidAudienceError",
    "wrong_issuer": "unknown issuer",
    "alg_none": "algorithm 'none' not allowed",
    "hs256_with_public_key": "algorithm 'HS256' not allowed",
    "unknown_kid": "no key 'some-other-key'",
    "other_rsa_key": "InvalidSignatureError",
    "wrong_typ": "typ 'JWT' is not at+jwt",
    "missing_scope": "scope 'fhi:registerportal/intake' missing",
    "missing_org": "no organisation number claim",
    "unregistered_client": "'not-registered' is not registered",
    "deactivated_client": "is not registered or is deactivated",
    "malformed": "malformed token",
}


def test_every_bad_token_kind_has_an_expected_reason():
    assert set(REFUSAL_REASONS) == set(Tokens.BAD_KINDS)


@pytest.mark.parametrize("kind", Tokens.BAD_KINDS)
def test_bad_tokens_are_401_and_logged_without_the_token(api, message, world, caplog, kind):
    token = api.tokens.bad(kind, world.municipality.org_number)
    caplog.set_level(logging.INFO)

    response = api.post(message(), token=token)

    body = assert_error(response, 401, "unauthorized")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert REFUSAL_REASONS[kind] in caplog.text
    assert REFUSAL_REASONS[kind] in body["detail"]
    for part in token.split("."):
        if len(part) > 8:
            assert part not in caplog.text
            assert part not in response.content.decode()
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("", id="no-header"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer ", id="bearer-empty"),
    ],
)
def test_a_missing_token_is_401(api, message, caplog, authorization):
    caplog.set_level(logging.INFO)
    response = api.post(message(), authorization=authorization)

    assert_error(response, 401, "unauthorized")
    assert "refused" in caplog.text or "without token" in caplog.text
    assert not Submission.objects.exists()


def test_a_token_just_past_expiry_is_accepted_within_the_leeway(api, message, world, settings):
    claims = api.tokens.claims(world.municipality.org_number)
    now = int(time.time())
    claims.update(iat=now - 600, nbf=now - 600, exp=now - settings.API_TOKEN_LEEWAY_SECONDS // 2)

    response = api.post(message(), token=api.tokens.sign(claims))

    assert response.status_code == 201


def test_local_tokens_are_refused_when_the_local_issuer_is_off(api, message, world, settings, caplog):
    token = api.tokens.valid(world.municipality.org_number)
    settings.API_LOCAL_ISSUER_ENABLED = False

    response = api.post(message(), token=token)

    assert_error(response, 401, "unauthorized")
    assert "unknown issuer" in caplog.text


def test_a_token_is_refused_when_the_issuer_key_is_gone(api, message, world, issuer):
    token = api.tokens.valid(world.municipality.org_number)
    issuer.key_file.unlink()

    assert_error(api.post(message(), token=token), 401, "unauthorized")


def test_a_scope_claim_may_be_a_list(api, message, world, settings):
    claims = api.tokens.claims(world.municipality.org_number)
    claims["scope"] = ["openid", settings.API_REQUIRED_SCOPE]

    assert api.post(message(), token=api.tokens.sign(claims)).status_code == 201


@pytest.mark.parametrize(
    "scope", [None, 5, 1.5, [["fhi:registerportal/intake"]], [5], {"fhi:registerportal/intake": 1}]
)
def test_a_scope_claim_of_another_type_is_401(api, message, world, caplog, scope):
    # Was a 500 for numbers, null and nested lists: frozenset() of whatever the claim held.
    claims = api.tokens.claims(world.municipality.org_number)
    claims["scope"] = scope

    assert_error(api.post(message(), token=api.tokens.sign(claims)), 401, "unauthorized")
    assert "scope" in caplog.text


def test_a_client_of_a_sub_unit_may_send_for_the_sub_unit(api, message, world):
    # HelseID: orgnr_parent is the legal entity, orgnr_child the unit the client acts for.
    token = api.tokens.valid("974760673", child_org_number=world.specialist.org_number)

    response = api.post(message(submitter=world.specialist), token=token)

    assert response.status_code == 201
    assert Submission.objects.get().client_org_number == world.specialist.org_number


def test_create_api_client_prints_a_token_the_api_accepts(message, world, settings, tmp_path):
    settings.API_LOCAL_ISSUER_KEY_FILE = str(tmp_path / "new" / "issuer.pem")  # generated on first use
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "create_api_client",
        "--name",
        "Gerica test",
        "--org-number",
        world.municipality.org_number,
        stdout=out,
        stderr=err,
    )

    token = out.getvalue().strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["scope"] == settings.API_REQUIRED_SCOPE
    assert (tmp_path / "new" / "issuer.pem").stat().st_mode & 0o077 == 0
    response = Client().post(
        "/api/v1/messages", data=message(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 201
    assert local_issuer().key_file.exists()


# -- who may send for whom -------------------------------------------------------------------------


def test_a_client_may_not_send_for_another_organisation(api, message, world):
    before = database_state()

    response = api.post(message(), org=world.specialist.org_number)

    body = assert_error(response, 403, "forbidden_sender")
    assert world.municipality.org_number in body["detail"]
    assert database_state() == before


def test_the_epj_vendor_may_send_for_its_customer(api, message, world):
    sent = message()

    first = api.post(sent, org=world.vendor.org_number)
    again = api.post(sent, org=world.vendor.org_number)

    assert (first.status_code, again.status_code) == (201, 200)
    submission = Submission.objects.get()
    assert submission.submitter == world.municipality
    assert submission.client_org_number == world.vendor.org_number
    assert Record.objects.get().submitter == world.municipality


def test_another_vendor_may_not_send_for_the_customer(api, message, world):
    assert_error(api.post(message(), org=world.other_vendor.org_number), 403, "forbidden_sender")


def test_the_customer_may_not_send_for_its_vendor_or_another_customer(api, message, world):
    # Psykiater Hansen and Øyelege Berg share a vendor, not their data.
    sent = message(submitter=world.other_specialist)

    assert_error(api.post(sent, org=world.specialist.org_number), 403, "forbidden_sender")


# -- validation only -------------------------------------------------------------------------------


def test_validate_only_stores_only_the_receipt_and_frees_the_message_id(api, message, world):
    sent = message(contacts=[{"name": "Ny Kontakt", "email": "ny@example.no", "mobile": "91234567", "types": [1]}])

    checked = api.post(sent, query="?validate_only=true")

    assert checked.status_code == 201
    receipt = checked.json()
    assert receipt["validate_only"] is True
    assert receipt["status"] == "accepted"
    assert receipt["counts"]["created"] == 1  # what a real send would do
    submission = Submission.objects.get()
    assert submission.validate_only is True
    assert submission.receipt == receipt
    assert not Record.objects.exists()
    assert not RecordVersion.objects.exists()
    assert not world.municipality.contacts.filter(source=ContactPerson.Source.MESSAGE).exists()

    sent_for_real = api.post(sent)

    assert sent_for_real.status_code == 201
    assert sent_for_real.json()["validate_only"] is False
    assert Record.objects.count() == 1
    assert Submission.objects.filter(validate_only=False).count() == 1


def test_validate_only_can_be_repeated(api, message):
    sent = message()

    responses = [api.post(sent, query="?validate_only=1") for _ in range(2)]

    assert [r.status_code for r in responses] == [201, 201]
    assert Submission.objects.filter(validate_only=True).count() == 2


@pytest.mark.parametrize(
    ("submitter_name", "service_her_id"),
    [("municipality", KPR_VALIDATION), ("specialist", NPR_VALIDATION)],
)
def test_a_message_to_the_validation_service_is_only_validated(api, message, world, submitter_name, service_her_id):
    submitter = getattr(world, submitter_name)
    sent = message(submitter=submitter, validation=True)
    assert sent["recipient"]["service_her_id"] == service_her_id

    response = api.post(sent)

    assert response.status_code == 201
    assert response.json()["validate_only"] is True
    assert Submission.objects.get().validate_only is True
    assert not Record.objects.exists()

    production = {**sent, "recipient": {**sent["recipient"], "service_her_id": _production_of(service_her_id)}}
    assert api.post(production).status_code == 201
    assert Record.objects.filter(submitter=submitter).count() == 1


def _production_of(validation_her_id: int) -> int:
    return {KPR_VALIDATION: 122612, NPR_VALIDATION: 94378}[validation_her_id]


def test_validate_only_false_is_a_real_send(api, message):
    assert api.post(message(), query="?validate_only=false").json()["validate_only"] is False
    assert Record.objects.count() == 1


def test_a_bad_validate_only_value_is_400(api, message):
    assert_error(api.post(message(), query="?validate_only=maybe"), 400, "bad_parameter")
    assert not Submission.objects.exists()


# -- the published API -----------------------------------------------------------------------------


def test_the_openapi_document_describes_the_messages_endpoint(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.json()
    operation = document["paths"]["/api/v1/messages"]["post"]
    assert {"200", "201", "400", "401", "403", "409", "413", "415", "422"} <= set(operation["responses"])
    schemas = operation["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert len(schemas) == 2
    assert {"message_id", "register", "kind", "records"} <= set(schemas[0]["properties"])
    assert any(p["name"] == "validate_only" for p in operation["parameters"])


def test_the_api_docs_page_is_served(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    assert b"openapi.json" in response.content


# -- bugs found while writing these tests ----------------------------------------------------------


@pytest.mark.parametrize("kind", [[], {"a": 1}, 1, None])
def test_a_kind_that_is_not_text_is_a_schema_violation(api, message, kind):
    # Was a 500: the kind picked the model through a dict lookup (unhashable list/dict).
    sent = message()
    sent["kind"] = kind

    response = api.post(sent)

    assert response.status_code == 422
    assert "$.kind" in [f["path"] for f in response.json()["findings"]]


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("record_id", "a\x00b", "$.records[0].record_id"),
        ("unit_id", "\ud800", "$.records[0].unit_id"),
        ("schema_version", "1.0\x00", "$.schema_version"),
    ],
)
def test_text_that_cannot_be_stored_is_a_schema_violation(api, message, world, field, value, path):
    # Was a 500: PostgreSQL refuses NUL in text and jsonb, and an unpaired surrogate can't be
    # encoded in the receipt. json.dumps writes both as \u escapes, as a sender's library would.
    sent = message()
    if field == "schema_version":
        sent[field] = value
    else:
        sent["records"][0][field] = value

    response = api.post(json.dumps(sent).encode(), org=world.municipality.org_number)

    assert response.status_code == 422
    assert [f["path"] for f in response.json()["findings"]] == [path]
    submission = Submission.objects.get()
    assert submission.status == Submission.Status.REJECTED
    assert "\x00" not in submission.schema_version


def test_a_surrogate_pair_is_ordinary_text(api, message):
    sent = message(records=[kpr_record("kpr-😀")])

    response = api.post(json.dumps(sent).encode())  # ensure_ascii: written as a \ud83d\ude00 pair

    assert response.status_code == 201
    assert Record.objects.get().record_id == "kpr-😀"


def test_a_concurrent_message_with_the_same_id_for_another_customer_is_a_conflict(api, message, world, monkeypatch):
    # Two messages from one vendor, same message_id, for two customers, at the same time: each
    # locks only its own submitter, so both pass the idempotency lookup. Was a 500
    # (IntegrityError); now the loser sees the winner's message like any later retry.
    world.specialist.epj_vendor = world.vendor
    world.specialist.save()
    first = message()
    assert api.post(first, org=world.vendor.org_number).status_code == 201
    lookups = []
    real_previous = intake._previous

    def previous_not_yet_committed(sender, message_id):
        lookups.append(message_id)
        return None if len(lookups) == 1 else real_previous(sender, message_id)

    monkeypatch.setattr(intake, "_previous", previous_not_yet_committed)
    second = message(submitter=world.specialist, message_id=first["message_id"], records=[npr_record()])

    response = api.post(second, org=world.vendor.org_number)

    assert_error(response, 409, "message_id_reused")
    assert Submission.objects.count() == 1
    assert not Record.objects.filter(submitter=world.specialist).exists()


def test_every_refusal_is_published_with_error_and_detail(client):
    document = client.get("/api/v1/openapi.json").json()
    responses = document["paths"]["/api/v1/messages"]["post"]["responses"]

    for status in ("400", "401", "403", "409", "413", "415"):
        reference = responses[status]["content"]["application/json"]["schema"]["$ref"]
        schema = document["components"]["schemas"][reference.split("/")[-1]]
        assert set(schema["required"]) == {"error", "detail"}


def test_a_rejected_422_is_keyed_to_the_same_sending_organisation_as_an_accepted_message(api, message, world):
    # Was keyed to the lowest of the token's organisation numbers (here the parent), so a sub-unit's
    # 422 and its accepted messages had different idempotency scopes.
    token = api.tokens.valid("900000000", child_org_number=world.specialist.org_number)
    broken = message(submitter=world.specialist)
    broken["colour"] = "blue"

    assert api.post(broken, token=token).status_code == 422
    assert api.post(message(submitter=world.specialist), token=token).status_code == 201

    assert set(Submission.objects.values_list("client_org_number", flat=True)) == {world.specialist.org_number}
