"""What intake does to the registry's data: record versions, full-period replacement, contacts, identity hashes."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from django.db import connection

from portal.lib.identity import identity_hash
from portal.models import ContactPerson
from submissions.models import Record, RecordVersion, Submission
from submissions.signals import submission_received
from tests.factories import ContactFactory
from tests.submissions.conftest import (
    D_NUMBER,
    NATIONAL_ID,
    SYNTHETIC_ID,
    YEAR,
    delete,
    ident_record,
    kpr_record,
    npr_record,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(api, message):
    """Send a message from the municipality (or `submitter=`) and return its receipt, asserting 201."""

    def send(records, **overrides):
        response = api.post(message(records=records, **overrides))
        assert response.status_code == 201, response.content
        return response.json()

    return send


def history(record_id: str) -> list[tuple[int, str]]:
    record = Record.objects.get(record_id=record_id)
    return list(record.versions.order_by("version").values_list("version", "operation"))


def counts(receipt, **expected) -> None:
    base = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0, "invalid": 0}
    assert receipt["counts"] == {"received": receipt["counts"]["received"], **base, **expected}


# -- versions --------------------------------------------------------------------------------------


def test_a_record_keeps_its_history_through_change_resend_delete_and_return(send):
    counts(send([kpr_record("r1", service_code="10")]), created=1)
    assert history("r1") == [(1, "upsert")]

    counts(send([kpr_record("r1", service_code="6")]), updated=1)
    record = Record.objects.get(record_id="r1")
    assert (record.version, record.service_code, record.is_deleted) == (2, "6", False)
    assert history("r1") == [(1, "upsert"), (2, "upsert")]
    first, second = record.versions.order_by("version")
    assert (first.data["service_code"], second.data["service_code"]) == ("10", "6")

    counts(send([kpr_record("r1", service_code="6")]), unchanged=1)
    assert Record.objects.get(record_id="r1").version == 2

    counts(send([delete("r1")]), deleted=1)
    record = Record.objects.get(record_id="r1")
    assert (record.version, record.is_deleted) == (3, True)
    assert record.data["service_code"] == "6"  # the last content stays with the record
    deletion = record.versions.get(version=3)
    assert (deletion.operation, deletion.data) == ("delete", None)

    counts(send([delete("r1")]), unchanged=1)  # already deleted
    assert Record.objects.get(record_id="r1").version == 3

    counts(send([kpr_record("r1", service_code="6")]), updated=1)
    record = Record.objects.get(record_id="r1")
    assert (record.version, record.is_deleted) == (4, False)
    assert history("r1") == [(1, "upsert"), (2, "upsert"), (3, "delete"), (4, "upsert")]


def test_each_version_points_to_the_submission_that_made_it(send):
    send([kpr_record("r1")])
    second = send([kpr_record("r1", service_code="6")])

    record = Record.objects.get(record_id="r1")
    latest = Submission.objects.get(message_id=second["message_id"])
    assert record.last_submission == latest
    assert record.versions.get(version=2).submission == latest
    assert record.first_received_at < record.last_received_at


def test_columns_for_the_daily_view_are_copied_out(send, world):
    send([kpr_record("k", event_date=f"{YEAR}-04-02", end_date=f"{YEAR}-04-09", service_code="29")])
    send([npr_record("n", contact_kind="admission", condition_codes=["F32.1", "Z00"])], submitter=world.specialist)

    kpr = Record.objects.get(record_id="k")
    assert (kpr.register, kpr.kind, kpr.patient_ref, kpr.service_code) == ("KPR", "activity", "p-k", "29")
    assert (kpr.event_date.isoformat(), kpr.end_date.isoformat()) == (f"{YEAR}-04-02", f"{YEAR}-04-09")
    npr = Record.objects.get(record_id="n")
    assert (npr.register, npr.contact_kind, npr.icd_chapter) == ("NPR", "admission", "V")
    assert npr.data["procedure_codes"] == ["ZXA10"]


def test_text_is_stored_exactly_as_sent_whatever_characters_it_holds(send):
    # Tabs, newlines, backslashes and quotes are COPY's and JSON's own syntax; non-ASCII is ordinary Norwegian.
    awkward = 'a\tb\nc\rd\\e "f" \\N æøå \u2028'
    send([kpr_record(awkward, patient_ref=awkward, unit_id=awkward)])
    send([kpr_record("changed", unit_id="x")])
    receipt = send([kpr_record("changed", unit_id=awkward)])

    counts(receipt, updated=1)
    record = Record.objects.get(record_id=awkward)
    assert (record.patient_ref, record.data["patient_ref"], record.data["unit_id"]) == (awkward, awkward, awkward)
    assert record.versions.get().data == record.data
    changed = Record.objects.get(record_id="changed")
    assert changed.data["unit_id"] == changed.versions.get(version=2).data["unit_id"] == awkward
    # Sent again unchanged, both count as unchanged: the stored hash matches what the message hashes to.
    counts(
        send([kpr_record(awkward, patient_ref=awkward, unit_id=awkward), kpr_record("changed", unit_id=awkward)]),
        unchanged=2,
    )


def test_records_are_kept_apart_per_submitter_and_kind(send, world):
    send([kpr_record("same")])
    send([npr_record("same")], submitter=world.specialist)
    send([ident_record("same")], kind="ident")

    assert Record.objects.filter(record_id="same").count() == 3


def test_receipt_counts_match_the_database(send):
    send([kpr_record("changes"), kpr_record("stays"), kpr_record("goes")])

    receipt = send(
        [
            kpr_record("new-1"),
            kpr_record("new-2"),
            kpr_record("changes", service_code="6"),
            kpr_record("stays"),
            delete("goes"),
            kpr_record("refused", service_code="99"),
        ]
    )

    counts(receipt, created=2, updated=1, deleted=1, unchanged=1, invalid=1)
    assert receipt["counts"]["received"] == 6
    submission = Submission.objects.get(message_id=receipt["message_id"])
    assert (
        submission.count_received,
        submission.count_created,
        submission.count_updated,
        submission.count_deleted,
        submission.count_unchanged,
        submission.count_invalid,
        submission.count_errors,
    ) == (6, 2, 1, 1, 1, 1, 1)
    made = submission.record_versions
    assert made.filter(operation="upsert", version=1).count() == receipt["counts"]["created"]
    assert made.filter(operation="upsert", version__gt=1).count() == receipt["counts"]["updated"]
    assert made.filter(operation="delete").count() == receipt["counts"]["deleted"]
    assert not Record.objects.filter(record_id="refused").exists()
    assert Record.objects.filter(is_deleted=False).count() == 4


# -- full messages ---------------------------------------------------------------------------------


def test_a_full_message_makes_the_period_exactly_its_content(send):
    send(
        [
            kpr_record("kept", event_date=f"{YEAR}-03-01"),
            kpr_record("dropped", event_date=f"{YEAR}-06-01"),
            kpr_record("last-year", event_date=f"{YEAR - 1}-11-01"),
        ]
    )

    receipt = send([kpr_record("kept", event_date=f"{YEAR}-03-01"), kpr_record("new")], mode="full")

    counts(receipt, created=1, unchanged=1, deleted=1)
    dropped = Record.objects.get(record_id="dropped")
    assert dropped.is_deleted
    assert history("dropped") == [(1, "upsert"), (2, "delete")]
    assert str(RecordVersion.objects.get(record=dropped, version=2).submission.message_id) == receipt["message_id"]
    assert history("last-year") == [(1, "upsert")]  # outside the period
    assert not Record.objects.get(record_id="last-year").is_deleted
    assert set(Record.objects.filter(is_deleted=False).values_list("record_id", flat=True)) == {
        "kept",
        "new",
        "last-year",
    }


def test_a_full_message_keeps_records_a_rule_refused(send):
    # The sender meant to report the record; a bad new version must not delete the good old one.
    send([kpr_record("fine"), kpr_record("disputed", service_code="10")])

    receipt = send([kpr_record("fine"), kpr_record("disputed", service_code="12")], mode="full")

    assert receipt["status"] == "accepted_with_errors"
    assert [f["rule_id"] for f in receipt["findings"]] == ["KPR-001"]
    counts(receipt, unchanged=1, invalid=1)
    disputed = Record.objects.get(record_id="disputed")
    assert (disputed.version, disputed.is_deleted, disputed.service_code) == (1, False, "10")


def test_a_full_message_leaves_other_submitters_and_registers_alone(send, world):
    send([npr_record("theirs")], submitter=world.specialist)
    send([ident_record("p-mine")], kind="ident")
    send([kpr_record("mine")])

    counts(send([], mode="full"), deleted=1)

    assert Record.objects.get(record_id="mine").is_deleted
    assert not Record.objects.get(record_id="theirs").is_deleted
    assert not Record.objects.get(record_id="p-mine").is_deleted


def test_a_rejected_full_message_deletes_nothing(send):
    send([kpr_record("kept")])

    receipt = send([], mode="full", schema_version="9.9")

    assert receipt["status"] == "rejected"
    assert not Record.objects.get(record_id="kept").is_deleted


def test_a_validate_only_full_message_deletes_nothing_but_says_what_it_would(api, message):
    api.post(message(records=[kpr_record("kept")]))

    receipt = api.post(message(records=[], mode="full"), query="?validate_only=true").json()

    counts(receipt, deleted=1)
    record = Record.objects.get(record_id="kept")
    assert (record.version, record.is_deleted) == (1, False)


# -- contacts --------------------------------------------------------------------------------------


def _contact(name, *, email=None, mobile="91234567", types=(1,)):
    return {
        "name": name,
        "email": email or f"{name.split()[0].lower()}@example.no",
        "mobile": mobile,
        "types": list(types),
    }


def reported(submitter) -> list[tuple]:
    return sorted(
        submitter.contacts.filter(source=ContactPerson.Source.MESSAGE).values_list(
            "name", "email", "mobile", "contact_types"
        )
    )


def test_contacts_in_a_message_replace_earlier_reported_contacts_but_not_portal_ones(send, world):
    portal_contact = world.municipality.contacts.get()  # entered in the portal (conftest)
    assert portal_contact.source == ContactPerson.Source.PORTAL

    send([kpr_record()], contacts=[_contact("Ola Teknisk"), _contact("Lise Leverandør", types=(15,))])
    assert reported(world.municipality) == [
        ("Lise Leverandør", "lise@example.no", "+4791234567", [15]),
        ("Ola Teknisk", "ola@example.no", "+4791234567", [1]),
    ]

    send([kpr_record()], contacts=[_contact("Per Ny", mobile="+47 412 34 567", types=(1, 2))])
    assert reported(world.municipality) == [("Per Ny", "per@example.no", "+4741234567", [1, 2])]
    assert ContactPerson.objects.filter(pk=portal_contact.pk).exists()


def test_a_message_without_contacts_keeps_the_reported_ones(send, world):
    send([kpr_record()], contacts=[_contact("Ola Teknisk")])

    send([kpr_record()], contacts=[])

    assert [name for name, *_ in reported(world.municipality)] == ["Ola Teknisk"]


def test_contacts_of_other_submitters_are_untouched(send, world):
    ContactFactory(submitter=world.specialist, name="Spesialistens kontakt", source=ContactPerson.Source.MESSAGE)

    send([kpr_record()], contacts=[_contact("Ola Teknisk")])

    assert [name for name, *_ in reported(world.specialist)] == ["Spesialistens kontakt"]


def test_a_rejected_message_does_not_replace_contacts(send, world):
    send([kpr_record()], contacts=[_contact("Ola Teknisk")])

    receipt = send([kpr_record()], contacts=[_contact("Per Ny")], schema_version="9.9")

    assert receipt["status"] == "rejected"
    assert [name for name, *_ in reported(world.municipality)] == ["Ola Teknisk"]


def test_a_contact_with_a_bad_mobile_is_stored_without_it_and_warned_about(send, world):
    receipt = send([kpr_record()], contacts=[_contact("Ola Teknisk", mobile="22 12 34 56")])

    assert [f["rule_id"] for f in receipt["findings"]] == ["CONTACT-001"]
    assert reported(world.municipality) == [("Ola Teknisk", "ola@example.no", "", [1])]


# -- identity numbers ------------------------------------------------------------------------------


def _all_stored_text() -> str:
    """Every row of every table, as text: the number must not be anywhere."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from introspection
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_ident_records_keep_only_a_keyed_hash_of_the_number(send, caplog):
    caplog.set_level(logging.DEBUG)
    bad_checksum = NATIONAL_ID[:-1] + str((int(NATIONAL_ID[-1]) + 1) % 10)
    receipt = send(
        [
            ident_record("p-1", NATIONAL_ID),
            ident_record("p-2", D_NUMBER),
            ident_record("p-3", SYNTHETIC_ID),
            ident_record("p-4", bad_checksum),
        ],
        kind="ident",
    )

    assert receipt["counts"]["created"] == 2
    key = settings.IDENTITY_HASH_KEY.encode()
    record = Record.objects.get(record_id="p-1")
    assert record.data == {
        "patient_ref": "p-1",
        "national_id_hmac": identity_hash(NATIONAL_ID, key=key),
        "check": "valid",
    }
    assert record.versions.get().data == record.data
    assert Record.objects.get(record_id="p-2").data["check"] == "d_number"
    stored = _all_stored_text() + json.dumps(receipt) + caplog.text
    for number in (NATIONAL_ID, D_NUMBER, SYNTHETIC_ID, bad_checksum):
        assert number not in stored
        assert number[:6] + " " + number[6:] not in stored


def test_the_same_person_gets_the_same_hash_across_messages(send):
    send([ident_record("p-1", NATIONAL_ID)], kind="ident")
    counts(send([ident_record("p-1", NATIONAL_ID)], kind="ident"), unchanged=1)
    counts(send([ident_record("p-1", D_NUMBER)], kind="ident"), updated=1)

    assert history("p-1") == [(1, "upsert"), (2, "upsert")]


def test_an_ident_record_can_be_deleted_by_patient_ref(send):
    send([ident_record("p-1")], kind="ident")

    counts(send([{"patient_ref": "p-1", "operation": "delete"}], kind="ident"), deleted=1)

    assert Record.objects.get(record_id="p-1").is_deleted


# -- the signal to feedback ------------------------------------------------------------------------


@pytest.fixture
def received():
    ids: list[int] = []

    def receiver(sender, submission_id, **kwargs):
        ids.append(submission_id)

    submission_received.connect(receiver)
    yield ids
    submission_received.disconnect(receiver)


def test_submission_received_is_sent_once_after_commit(api, message, received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(message())
    assert response.status_code == 201
    assert received == []  # not before the commit
    assert len(callbacks) == 1

    callbacks[0]()

    assert received == [Submission.objects.get().pk]


@pytest.mark.parametrize(
    ("change", "query", "status", "signals"),
    [
        pytest.param({}, "", 201, 1, id="accepted"),
        pytest.param({"schema_version": "9.9"}, "", 201, 1, id="rejected"),
        pytest.param({}, "?validate_only=true", 201, 1, id="validate-only"),
        pytest.param({"colour": "blue"}, "", 422, 1, id="schema-violation-kept"),
        pytest.param({"colour": "blue", "message_id": "x"}, "", 422, 0, id="schema-violation-not-kept"),
    ],
)
def test_submission_received_is_sent_for_each_stored_submission(
    api, message, received, django_capture_on_commit_callbacks, change, query, status, signals
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(message(**change), query=query)

    assert response.status_code == status
    assert len(received) == signals == Submission.objects.count()
    assert received == list(Submission.objects.values_list("pk", flat=True))


def test_a_replayed_or_conflicting_message_sends_no_signal(api, message, received, django_capture_on_commit_callbacks):
    sent = message()
    api.post(sent)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert api.post(sent).status_code == 200
        assert api.post({**sent, "records": []}).status_code == 409

    assert callbacks == []
    assert received == []
