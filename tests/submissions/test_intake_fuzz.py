"""Property tests: whatever is posted to the intake, the answer is a JSON receipt or error, never a 500.

Bodies are arbitrary JSON values, arbitrary bytes, and valid messages with fields dropped,
added, retyped or filled with junk (odd dates and ids, huge numbers, NUL and unpaired
surrogates, nested lists and objects). Each example is a real HTTP request with a real token.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, reject
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.submissions.conftest import D_NUMBER, NATIONAL_ID, SYNTHETIC_ID, delete, ident_record, kpr_record, npr_record

ALLOWED = {200, 201, 400, 401, 403, 409, 413, 415, 422}
RECEIPT_KEYS = {"message_id", "status", "received_at", "validate_only", "counts", "findings"}

fuzz = hypothesis_settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- values ----------------------------------------------------------------------------------------

awkward_text = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfffy",
        "😀",
        "æøå ÆØÅ",
        "٠١٢٣",
        "9" * 40,
        "2024-02-30",
        "2024-13-01",
        "0000-00-00",
        "9999-12-31",
        "24-01-01",
        "2024-01-01T12:00:00",
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
        "urn:uuid:6f1c0b9e-1d2b-4a8e-9c3f-2f1f4b8e9a10",
        "1.0",
        "NaN",
        "null",
        "<script>",
        "%(path)s",
        "{}",
        "x" * 300,
    ]
)
text = st.one_of(st.text(max_size=20), awkward_text)
huge = st.one_of(
    st.integers(min_value=2**31, max_value=10**300),
    st.integers(min_value=-(10**300), max_value=-1),
    st.sampled_from([2**63, 2**64 + 1, 10**4000]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    huge,
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
    max_leaves=12,
)
# Deep, but within what json.dumps can write from inside a test; deeper bodies are written as bytes below.
deep = st.integers(min_value=1, max_value=600).map(lambda depth: _nested(depth))


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


# -- mutations of a valid message ------------------------------------------------------------------


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            paths.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths.extend(_paths(value, (*prefix, index)))
    return paths


def _mutate(document: dict, path: tuple, operation: str, value: Any) -> dict:
    document = copy.deepcopy(document)
    if not path:
        return value if operation == "replace" else document
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if operation == "drop":
        del parent[last]
    elif operation == "replace":
        parent[last] = value
    elif operation == "add" and isinstance(parent[last], dict):
        parent[last]["unexpected_" + str(len(parent[last]))] = value
    elif operation == "add" and isinstance(parent[last], list):
        parent[last].append(value)
    elif operation == "wrap":
        parent[last] = [parent[last]]
    return document


def _at(document: Any, path: tuple) -> Any:
    for part in path:
        document = document[part]
    return document


def _like(current: Any) -> st.SearchStrategy:
    """Junk of the same JSON type, so that the message often still passes the schema and reaches the rules."""
    if isinstance(current, bool):
        return st.booleans()
    if isinstance(current, int):
        return st.one_of(st.integers(min_value=-(10**6), max_value=10**6), huge)
    if isinstance(current, str):
        return text
    if isinstance(current, list):
        return st.lists(st.one_of(text, json_values), max_size=3)
    return json_values


@st.composite
def mutated(draw, base: dict) -> dict:
    document = base
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(document)))
        operation = draw(st.sampled_from(["same-type", "same-type", "same-type", "drop", "replace", "add", "wrap"]))
        if operation == "same-type":
            document = _mutate(document, path, "replace", draw(_like(_at(document, path))))
        else:
            document = _mutate(document, path, operation, draw(st.one_of(scalars, json_values, deep)))
    return document


def _serialize(value: Any) -> bytes:
    try:
        return json.dumps(value).encode()
    except ValueError:  # an integer beyond Python's digit limit: write it by hand
        return b'{"records": [' + b"9" * 5000 + b"]}"


# -- the property ----------------------------------------------------------------------------------


def check(response) -> None:
    assert response.status_code in ALLOWED, (response.status_code, response.content[:1000])
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert isinstance(body, dict)
    if response.status_code in (200, 201, 422):
        assert RECEIPT_KEYS <= set(body), body
        assert body["status"] in ("accepted", "accepted_with_errors", "rejected")
        assert set(body["counts"]) == {"received", "created", "updated", "deleted", "unchanged", "invalid"}
        for finding in body["findings"]:
            assert finding["severity"] in ("error", "warning")
            assert finding["rule_id"] and finding["message"]
        if response.status_code == 422:
            assert body["status"] == "rejected"
    else:
        assert isinstance(body["error"], str) and body["error"]
        assert isinstance(body["detail"], str) and body["detail"]


def _base_messages(message, world) -> list[dict]:
    return [
        message(
            records=[
                kpr_record("a"),
                kpr_record("b", end_date="2024-04-01", provider_org_number="974760673"),
                delete("c"),
            ]
        ),
        message(
            submitter=world.specialist, mode="full", records=[npr_record("n"), npr_record("m", operation="delete")]
        ),
        message(
            kind="ident",
            records=[
                ident_record("p-1", NATIONAL_ID),
                ident_record("p-2", D_NUMBER),
                ident_record("p-3", SYNTHETIC_ID),
            ],
        ),
    ]


@fuzz
@given(data=st.data())
def test_mutated_messages_never_answer_500(api, message, world, data):
    base = data.draw(st.sampled_from(_base_messages(message, world)))
    changed = data.draw(mutated(base))
    query = data.draw(st.sampled_from(["", "", "", "?validate_only=true", "?validate_only=nope"]))
    if data.draw(st.booleans()):
        check(api.post(base))  # the original first: the changed message may reuse its message_id

    response = api.post(_serialize(changed), org=world.municipality.org_number, query=query)

    check(response)
    if response.status_code in (200, 201, 422) and data.draw(st.booleans()):
        again = api.post(_serialize(changed), org=world.municipality.org_number, query=query)  # a retry
        check(again)
        if response.status_code == 201 and not response.json()["validate_only"]:
            assert again.status_code == 200


@fuzz
@given(value=st.one_of(json_values, deep))
def test_arbitrary_json_never_answers_500(api, world, value):
    check(api.post(_serialize(value), org=world.municipality.org_number))


@fuzz
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.builds(
            lambda head, tail: head + tail,
            st.sampled_from([b'{"message_id": ', b"[", b'{"a": "\\u', b'{"kind": ']),
            st.binary(max_size=40),
        ),
        st.integers(min_value=500, max_value=200_000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(min_value=4000, max_value=6000).map(lambda digits: b"[" + b"7" * digits + b"]"),
    ),
    content_type=st.sampled_from(
        ["application/json", "application/json", "text/plain", "application/json; charset=latin-1"]
    ),
    authorization=st.sampled_from(["valid", "valid", "valid", "Bearer x.y.z", "Bearer ", "", "Basic Og=="]),
)
def test_arbitrary_bytes_headers_and_tokens_never_answer_500(api, world, body, content_type, authorization):
    if authorization == "valid":
        authorization = f"Bearer {api.tokens.valid(world.municipality.org_number)}"

    check(api.post(body, authorization=authorization, content_type=content_type))


@fuzz
@given(data=st.data())
def test_odd_claims_in_validly_signed_tokens_never_answer_500(api, message, world, data):
    # Signed with the issuer's own key, so every claim and header field reaches the checks after the signature.
    org_number = world.municipality.org_number
    claims = data.draw(mutated(api.tokens.claims(org_number)))
    header = data.draw(mutated({"alg": "RS256", "typ": "at+jwt", "kid": api.tokens.kid()}))
    try:
        token = api.tokens.sign_raw(header, claims)
    except ValueError:  # an integer json.dumps can't write
        reject()

    check(api.post(message(), token=token))


@fuzz
@given(padding=st.integers(min_value=0, max_value=3000), data=st.data())
def test_bodies_near_the_size_limit_never_answer_500(api, message, world, settings, padding, data):
    settings.INTAKE_MAX_BODY_BYTES = 2000
    base = data.draw(st.sampled_from(_base_messages(message, world)))

    check(api.post(_serialize(base) + b" " * padding, org=world.municipality.org_number))
