"""Every intake rule with at least one failing and one passing case, and what its severity does.

Cases are (rule id, how to build the message). A failing case must produce the rule's finding
with the catalogue's version and severity, and the status that severity implies; a passing
case must be accepted without it. test_every_rule_has_a_failing_and_a_passing_case fails when a
rule is added to the catalogue without cases here.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from submissions.models import Record, Submission
from submissions.rules import ERROR, RULES, WARNING
from tests.factories import MunicipalitySubmitterFactory
from tests.submissions.conftest import (
    D_NUMBER,
    KPR_VALIDATION,
    NATIONAL_ID,
    NPR_VALIDATION,
    SYNTHETIC_ID,
    TODAY,
    YEAR,
    delete,
    full_period,
    ident_record,
    identity_number,
    kpr_record,
    npr_record,
)

pytestmark = pytest.mark.django_db

# Rules whose failure means the sender can't be identified: 422, nothing stored.
UNIDENTIFIED = {"SCHEMA-001", "SENDER-001", "SENDER-002"}

BAD_CHECKSUM = NATIONAL_ID[:-1] + str((int(NATIONAL_ID[-1]) + 1) % 10)


@dataclass(frozen=True)
class Case:
    """`build(message, world)` returns the message; `before` messages are sent first (201 each)."""

    rule_id: str
    name: str
    build: Callable[[Callable[..., dict], Any], dict]
    before: Callable[[Callable[..., dict], Any], list[dict]] = lambda make, world: []
    query: str = ""
    # The record the rule refuses, for record-level errors: it must not be stored.
    refused: str | None = "bad"
    # Where the wording is the point: text the finding's message must contain.
    message_contains: tuple[str, ...] = ()

    def param(self):
        return pytest.param(self, id=f"{self.rule_id}:{self.name}")


def with_ok(record_factory, bad: dict) -> list[dict]:
    """A record-level case: a valid record beside the bad one, to show the message is still applied."""
    return [record_factory("ok"), bad]


def kpr(**changes) -> Callable:
    """A KPR message with a good record and one bad record built from `changes`."""
    return lambda make, world: make(records=with_ok(kpr_record, kpr_record("bad", **changes)))


def npr(**changes) -> Callable:
    return lambda make, world: make(
        submitter=world.specialist, records=with_ok(npr_record, npr_record("bad", **changes))
    )


def changed(**changes) -> Callable:
    """The municipality's message with top-level fields replaced."""
    return lambda make, world: make(**changes)


def nested(section: str, **changes) -> Callable:
    def build(make, world):
        message = make()
        message[section] = {**message[section], **changes}
        return message

    return build


def halden(year: int, sender_number: str, record_number: str | None = None) -> Callable:
    """A full-year message from Halden, whose number changed from 3001 to 3101 in 2024."""

    def build(make, world):
        submitter = MunicipalitySubmitterFactory(name="Halden kommune", municipality_number="3101")
        record = kpr_record("ok", event_date=f"{year}-05-01", municipality_number=record_number or sender_number)
        message = make(submitter=submitter, mode="full", period=full_period(year), records=[record])
        message["sender"]["municipality_number"] = sender_number
        return message

    return build


def idents(*numbers: str, validation: bool = False) -> Callable:
    def build(make, world):
        records = [ident_record("p-ok", NATIONAL_ID)] + [ident_record(f"bad-{i}", n) for i, n in enumerate(numbers)]
        return make(kind="ident", records=records, validation=validation)

    return build


def without_her_id(make, world) -> dict:
    message = make()
    del message["sender"]["her_id"]
    return message


def contact(**fields) -> Callable:
    return lambda make, world: make(contacts=[{"name": "Ola Teknisk", "types": [1], **fields}])


def existing(record_id: str) -> Callable:
    return lambda make, world: [make(records=[kpr_record(record_id)])]


# A synthetic person with month + 40 (NAV's test numbers) and + 80 (Skatteetaten's Tenor).
SYNTHETIC_PLUS_40 = identity_number("014190")
SYNTHETIC_PLUS_80 = SYNTHETIC_ID
NEXT_WEEK = (TODAY + datetime.timedelta(days=7)).isoformat()

FAILING = [
    Case("SCHEMA-001", "unknown-field", changed(colour="blue")),
    Case("SCHEMA-001", "wrong-type", nested("recipient", org_her_id="85217")),
    Case("SCHEMA-002", "version-2", changed(schema_version="2.0")),
    Case("SCHEMA-002", "version-without-minor", changed(schema_version="1")),
    Case(
        "RECIPIENT-001",
        "helsedirektoratet",
        nested("recipient", org_her_id=2397),
        message_contains=("85217", "2397"),
    ),
    Case("RECIPIENT-002", "other-organisation", nested("recipient", org_her_id=12345)),
    Case("RECIPIENT-003", "kpr-to-npr-address", nested("recipient", service_her_id=94378)),
    Case(
        "RECIPIENT-003",
        "npr-to-kpr-validation",
        lambda make, world: make(
            submitter=world.specialist, recipient={"org_her_id": 85217, "service_her_id": KPR_VALIDATION}
        ),
    ),
    Case("SENDER-001", "mod-11-fails", nested("sender", org_number="974760674")),
    Case("SENDER-001", "eight-digits", nested("sender", org_number="97476067")),
    Case("SENDER-002", "not-registered", nested("sender", org_number="974760673")),
    Case(
        "SENDER-003",
        "other-her-id",
        lambda make, world: nested("sender", her_id=world.municipality.her_id + 1)(make, world),
    ),
    Case("SENDER-004", "3001-in-2024", halden(2024, "3001", "3101")),
    Case("SENDER-004", "3101-in-2023", halden(2023, "3101", "3001")),
    Case("SENDER-004", "unknown-number", nested("sender", municipality_number="9999")),
    Case(
        "SENDER-005",
        "municipality-without-number",
        lambda make, world: {**make(), "sender": {"org_number": world.municipality.org_number}},
    ),
    Case(
        "PERIOD-001",
        "starts-2-january",
        changed(mode="full", period={"start": f"{YEAR}-01-02", "end": f"{YEAR}-12-31"}),
    ),
    Case(
        "PERIOD-001",
        "tertial-from-may",
        changed(mode="full", period={"start": f"{YEAR}-05-01", "end": f"{YEAR}-08-31"}),
    ),
    Case(
        "PERIOD-002",
        "ends-before-start",
        changed(period={"start": f"{YEAR}-05-01", "end": f"{YEAR}-04-30"}),
    ),
    Case(
        "PERIOD-002",
        "spans-two-years",
        changed(mode="full", period={"start": f"{YEAR}-01-01", "end": f"{YEAR + 1}-01-31"}),
    ),
    Case("PERIOD-002", "starts-in-future", changed(period={"start": NEXT_WEEK, "end": NEXT_WEEK})),
    Case(
        "DATE-001",
        "event-before-period",
        lambda make, world: make(
            mode="full", records=with_ok(kpr_record, kpr_record("bad", event_date=f"{YEAR - 1}-12-31"))
        ),
    ),
    Case(
        "DATE-001",
        "end-after-period",
        lambda make, world: make(
            mode="full",
            period={"start": f"{YEAR}-01-01", "end": f"{YEAR}-04-30"},
            records=with_ok(kpr_record, kpr_record("bad", event_date=f"{YEAR}-04-20", end_date=f"{YEAR}-05-02")),
        ),
    ),
    Case("DATE-002", "event-next-week", kpr(event_date=NEXT_WEEK)),
    Case("DATE-002", "end-next-week", kpr(event_date=TODAY.isoformat(), end_date=NEXT_WEEK)),
    Case("DATE-003", "ends-before-it-starts", kpr(event_date=f"{YEAR}-03-10", end_date=f"{YEAR}-03-09")),
    Case(
        "RECORD-001",
        "same-id-twice",
        lambda make, world: make(records=[kpr_record("ok"), kpr_record("ok", service_code="6")]),
        refused=None,  # the first "ok" is stored, the second refused
    ),
    Case(
        "RECORD-002",
        "delete-unknown",
        lambda make, world: make(records=[kpr_record("ok"), delete("bad")]),
    ),
    Case("RECORD-003", "kpr-without-service-code", kpr(service_code=None)),
    Case("RECORD-003", "kpr-without-municipality", kpr(municipality_number=None)),
    Case("RECORD-003", "npr-without-contact-kind", npr(contact_kind=None)),
    Case("RECORD-003", "npr-without-condition", npr(condition_codes=[])),
    Case("ICD-001", "lower-case", npr(condition_codes=["f32.1"])),
    Case("ICD-001", "too-short", npr(condition_codes=["F3"])),
    Case("ICD-001", "digits-first", npr(condition_codes=["32.1"])),
    Case("ICD-001", "second-code-bad", npr(condition_codes=["F32.1", "F32,1"])),
    Case("ICD-001", "subdivision-too-long", npr(condition_codes=["F32.12345"])),
    Case("NPR-001", "unknown-contact-kind", npr(contact_kind="telephone")),
    Case("KPR-001", "housing-12", kpr(service_code="12")),
    Case("KPR-001", "housing-13", kpr(service_code="13")),
    Case("KPR-001", "rehabilitation-16", kpr(service_code="16")),
    Case("KPR-002", "unknown-99", kpr(service_code="99")),
    Case("KPR-002", "zero", kpr(service_code="0")),
    Case("KPR-003", "halden-3001-in-2024", kpr(event_date="2024-05-01", municipality_number="3001")),
    Case("KPR-003", "halden-3101-in-2023", kpr(event_date="2023-05-01", municipality_number="3101")),
    Case("KPR-003", "not-a-municipality", kpr(municipality_number="0000")),
    Case("PROVIDER-001", "mod-11-fails", kpr(provider_org_number="974760674")),
    Case("PROVIDER-001", "letters", kpr(provider_org_number="ORG974760")),
    Case("IDENT-001", "check-digit", idents(BAD_CHECKSUM), refused="bad-0"),
    Case("IDENT-001", "ten-digits", idents(NATIONAL_ID[:10]), refused="bad-0"),
    Case("IDENT-001", "letters", idents("0101901234X"), refused="bad-0"),
    Case("IDENT-001", "day-32", idents(identity_number("320190")), refused="bad-0"),
    Case("IDENT-002", "month-plus-40", idents(SYNTHETIC_PLUS_40), refused="bad-0"),
    Case("IDENT-002", "month-plus-80", idents(SYNTHETIC_PLUS_80), refused="bad-0"),
    Case("IDENT-003", "synthetic-to-validation", idents(SYNTHETIC_PLUS_80, validation=True)),
    Case("IDENT-003", "synthetic-validate-only", idents(SYNTHETIC_PLUS_40), query="?validate_only=true"),
    Case("CONTACT-001", "type-1-without-email", contact(mobile="91234567")),
    Case("CONTACT-001", "type-1-with-bad-email", contact(email="ola.example.no", mobile="91234567")),
    Case("CONTACT-001", "type-1-without-mobile", contact(email="ola@example.no")),
    Case("CONTACT-001", "type-1-with-landline", contact(email="ola@example.no", mobile="22123456")),
    Case("CONTACT-001", "type-1-with-swedish-mobile", contact(email="ola@example.no", mobile="+46701234567")),
    Case(
        "CONTACT-001",
        "type-15-without-anything",
        lambda make, world: make(contacts=[{"name": "Leverandør", "types": [15]}]),
    ),
    Case(
        "CONTACT-002",
        "type-7",
        lambda make, world: make(
            contacts=[{"name": "Ola", "email": "ola@example.no", "mobile": "91234567", "types": [2, 7]}]
        ),
    ),
]

PASSING = [
    Case("SCHEMA-001", "valid-message", changed()),
    Case("SCHEMA-002", "version-1.0", changed(schema_version="1.0")),
    Case("RECIPIENT-001", "fhi", nested("recipient", org_her_id=85217)),
    Case("RECIPIENT-002", "fhi", nested("recipient", org_her_id=85217)),
    Case("RECIPIENT-003", "kpr-production", nested("recipient", service_her_id=122612)),
    Case("RECIPIENT-003", "kpr-validation", nested("recipient", service_her_id=KPR_VALIDATION)),
    Case(
        "RECIPIENT-003",
        "npr-validation",
        lambda make, world: make(submitter=world.specialist, validation=True),
    ),
    Case(
        "SENDER-001",
        "written-with-spaces",
        lambda make, world: nested(
            "sender", org_number=" ".join(world.municipality.org_number[i : i + 3] for i in (0, 3, 6))
        )(make, world),
    ),
    Case("SENDER-002", "registered", changed()),
    Case(
        "SENDER-003",
        "own-her-id",
        lambda make, world: nested("sender", her_id=world.municipality.her_id)(make, world),
    ),
    Case("SENDER-003", "no-her-id", without_her_id),
    Case("SENDER-004", "3001-in-2023", halden(2023, "3001")),
    Case("SENDER-004", "3101-in-2024", halden(2024, "3101")),
    Case(
        "SENDER-005",
        "specialist-without-number",
        lambda make, world: make(submitter=world.specialist),
    ),
    Case("PERIOD-001", "full-from-1-january", changed(mode="full")),
    Case(
        "PERIOD-001",
        "change-from-may",  # only full messages must start on 1 January
        changed(
            period={"start": f"{YEAR}-05-01", "end": f"{YEAR}-08-31"},
            records=[kpr_record("ok", event_date=f"{YEAR}-05-01")],
        ),
    ),
    Case(
        "PERIOD-001", "first-tertial", changed(mode="full", period={"start": f"{YEAR}-01-01", "end": f"{YEAR}-04-30"})
    ),
    Case(
        "PERIOD-002",
        "this-year-ending-in-december",  # a cumulative file for the running year
        changed(
            mode="full", period=full_period(TODAY.year), records=[kpr_record("ok", event_date=f"{TODAY.year}-01-01")]
        ),
    ),
    Case(
        "DATE-001",
        "inside",
        changed(mode="full", records=[kpr_record("ok", event_date=f"{YEAR}-12-31", end_date=f"{YEAR}-12-31")]),
    ),
    Case("DATE-002", "today", changed(records=[kpr_record("ok", event_date=TODAY.isoformat())])),
    Case(
        "DATE-003",
        "same-day",
        changed(records=[kpr_record("ok", event_date=f"{YEAR}-03-10", end_date=f"{YEAR}-03-10")]),
    ),
    Case("RECORD-001", "distinct-ids", changed(records=[kpr_record("ok"), kpr_record("ok-2")])),
    Case("RECORD-002", "delete-known", lambda make, world: make(records=[delete("old")]), before=existing("old")),
    Case("RECORD-003", "kpr-complete", changed()),
    Case(
        "RECORD-003", "delete-needs-nothing", lambda make, world: make(records=[delete("old")]), before=existing("old")
    ),
    Case("RECORD-003", "npr-complete", lambda make, world: make(submitter=world.specialist)),
    *[
        Case(
            "ICD-001",
            code,
            lambda make, world, code=code: make(
                submitter=world.specialist, records=[npr_record("ok", condition_codes=[code])]
            ),
        )
        for code in ("F32.1", "F321", "Z00", "U07.1", "S72.00")
    ],
    *[
        Case(
            "NPR-001",
            kind,
            lambda make, world, kind=kind: make(
                submitter=world.specialist, records=[npr_record("ok", contact_kind=kind)]
            ),
        )
        for kind in ("outpatient", "admission", "day_patient", "indirect")
    ],
    *[
        Case("KPR-001", f"code-{code}", changed(records=[kpr_record("ok", service_code=code)]))
        for code in ("29", "6", "30", "31", "32")  # housing now, and welfare technology
    ],
    Case("KPR-002", "known", changed(records=[kpr_record("ok", service_code="1")])),
    Case(
        "KPR-003",
        "halden-3101-in-2024",
        changed(records=[kpr_record("ok", event_date="2024-05-01", municipality_number="3101")]),
    ),
    Case(
        "KPR-003",
        "halden-3001-in-2023",
        changed(records=[kpr_record("ok", event_date="2023-05-01", municipality_number="3001")]),
    ),
    Case("PROVIDER-001", "valid", changed(records=[kpr_record("ok", provider_org_number="974760673")])),
    Case("IDENT-001", "fodselsnummer", idents()),
    Case("IDENT-001", "d-number", lambda make, world: make(kind="ident", records=[ident_record("p-d", D_NUMBER)])),
    Case("IDENT-002", "real-person-to-production", idents()),
    Case("IDENT-003", "real-person-to-validation", idents(validation=True)),
    Case("CONTACT-001", "type-1-complete", contact(email="ola@example.no", mobile="+47 912 34 567")),
    Case(
        "CONTACT-001",
        "type-2-needs-no-password",
        lambda make, world: make(contacts=[{"name": "Kari Somatikk", "types": [2]}]),
    ),
    Case(
        "CONTACT-002",
        "all-known-types",
        lambda make, world: make(
            contacts=[{"name": "Ola", "email": "ola@example.no", "mobile": "91234567", "types": [1, 2, 3, 4, 15]}]
        ),
    ),
]


def _send(api, make, world, case: Case):
    for earlier in case.before(make, world):
        assert api.post(earlier).status_code == 201
    message = case.build(make, world)
    return message, api.post(message, query=case.query)  # the token is for the message's own sender


@pytest.mark.parametrize("case", [case.param() for case in FAILING])
def test_rule_fails(api, message, world, case):
    sent, response = _send(api, message, world, case)
    rule = RULES[case.rule_id]

    receipt = response.json()
    found = [f for f in receipt["findings"] if f["rule_id"] == case.rule_id]
    assert found, receipt["findings"]
    assert all((f["rule_version"], f["severity"]) == (rule.version, rule.severity) for f in found)
    assert all(f["message"] and (f["path"] or f["record_id"]) for f in found)
    for text in case.message_contains:
        assert text in found[0]["message"]

    if case.rule_id in UNIDENTIFIED:
        assert response.status_code == 422
        assert receipt["status"] == "rejected"
        assert not Record.objects.exists()
    elif rule.severity == ERROR and rule.rejects_message:
        assert response.status_code == 201
        assert receipt["status"] == "rejected"
        assert receipt["counts"]["invalid"] == receipt["counts"]["received"] == len(sent["records"])
        assert Submission.objects.get(message_id=sent["message_id"]).status == "rejected"
        assert not Record.objects.exists()
    elif rule.severity == ERROR:
        assert response.status_code == 201
        assert receipt["status"] == "accepted_with_errors"
        assert {f["record_id"] for f in found} == {case.refused or "ok"}
        assert receipt["counts"]["invalid"] == len(found)
        if case.refused:
            assert not Record.objects.filter(record_id=case.refused).exists()
        assert Record.objects.filter(record_id__in=["ok", "p-ok"]).exists()
    else:
        assert rule.severity == WARNING
        assert response.status_code == 201
        assert receipt["status"] == "accepted", receipt["findings"]
        assert receipt["counts"]["invalid"] == 0


@pytest.mark.parametrize("case", [case.param() for case in PASSING])
def test_rule_passes(api, message, world, case):
    _, response = _send(api, message, world, case)

    assert response.status_code == 201, response.content
    receipt = response.json()
    assert case.rule_id not in {f["rule_id"] for f in receipt["findings"]}
    assert receipt["status"] == "accepted", receipt["findings"]


def test_every_rule_has_a_failing_and_a_passing_case():
    assert {case.rule_id for case in FAILING} == set(RULES)
    assert {case.rule_id for case in PASSING} == set(RULES)


# -- severities together ---------------------------------------------------------------------------


def test_a_message_level_error_stops_record_rules(api, message):
    sent = message(schema_version="2.0", records=[kpr_record("a", service_code="99"), kpr_record("b")])

    receipt = api.post(sent).json()

    assert receipt["status"] == "rejected"
    assert [f["rule_id"] for f in receipt["findings"]] == ["SCHEMA-002"]
    assert receipt["counts"] == {"received": 2, "created": 0, "updated": 0, "deleted": 0, "unchanged": 0, "invalid": 2}


def test_warnings_do_not_stop_a_message_with_record_errors(api, message):
    sent = message(
        contacts=[{"name": "Ola", "types": [1]}],
        records=[kpr_record("a", service_code="99"), kpr_record("b"), delete("never-sent")],
    )

    receipt = api.post(sent).json()

    assert receipt["status"] == "accepted_with_errors"
    assert sorted(f["rule_id"] for f in receipt["findings"]) == ["CONTACT-001", "KPR-002", "RECORD-002"]
    submission = Submission.objects.get()
    assert (submission.count_errors, submission.count_warnings) == (1, 2)
    assert list(Record.objects.values_list("record_id", flat=True)) == ["b"]


def test_one_record_can_break_several_rules(api, message):
    record = kpr_record("bad", event_date=f"{YEAR}-03-10", end_date=f"{YEAR}-03-09", service_code="13")
    receipt = api.post(message(records=[record])).json()

    assert sorted(f["rule_id"] for f in receipt["findings"]) == ["DATE-003", "KPR-001"]
    assert receipt["counts"]["invalid"] == 1


def test_synthetic_people_to_validation_are_only_warned_about_but_bad_numbers_still_fail(api, message):
    records = [ident_record("p-synthetic", SYNTHETIC_ID), ident_record("p-broken", BAD_CHECKSUM)]

    receipt = api.post(message(kind="ident", records=records, validation=True)).json()

    assert {(f["record_id"], f["rule_id"], f["severity"]) for f in receipt["findings"]} == {
        ("p-synthetic", "IDENT-003", "warning"),
        ("p-broken", "IDENT-001", "error"),
    }


def test_the_validation_service_of_npr_is_121017(message, world):
    assert message(submitter=world.specialist, validation=True)["recipient"]["service_her_id"] == NPR_VALIDATION


def test_the_retired_address_finding_names_fhi(api, message):
    sent = message()
    sent["recipient"]["org_her_id"] = 2397

    (finding,) = api.post(sent).json()["findings"]

    assert finding["rule_id"] == "RECIPIENT-001"
    assert "85217" in finding["message"]
    assert finding["path"] == "$.recipient.org_her_id"


def test_records_past_the_findings_limit_are_still_refused(api, message):
    # Was a bug: past 1000 findings a bad record added no finding, so it counted as valid and was stored.
    records = [kpr_record(f"r{i}", service_code="99") for i in range(1005)] + [kpr_record("good")]

    receipt = api.post(message(records=records)).json()

    assert len(receipt["findings"]) == 1000
    assert receipt["findings_truncated"] == 5
    assert receipt["counts"]["invalid"] == 1005
    assert list(Record.objects.values_list("record_id", flat=True)) == ["good"]
    assert Submission.objects.get().count_errors == 1005
