"""Producing feedback: what each trigger asks for, what goes in the archive, who gets e-mail and SMS rows."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from openpyxl import load_workbook

from feedback import services
from feedback.lib.archives import inspect_encryption, read_encrypted_zip
from feedback.models import EmailDelivery, FeedbackReport, MonthlyPassword, SmsOutbox
from feedback.receivers import on_submission_received
from portal.models import User
from portal.readiness import FeedbackKind
from tests.factories import DeadlineFactory, ExtensionFactory, UserFactory
from tests.feedback.conftest import YEAR, add_records, finding, make_submission, npr_row

pytestmark = pytest.mark.django_db


def _archive(report: FeedbackReport) -> dict[str, bytes]:
    password = MonthlyPassword.objects.get(submitter_id=report.submitter_id, month=report.password_month)
    with default_storage.open(report.file.name, "rb") as file:
        return read_encrypted_zip(io.BytesIO(file.read()), services.monthly_password_reveal(password))


@pytest.fixture
def staff(db) -> User:
    return UserFactory(username="fhi-feedback", registry_role=User.RegistryRole.STAFF)


def test_a_rejected_message_gets_schema_feedback_only(people, enqueued):
    submission = make_submission(people.submitter, status="rejected", findings=[finding("SCHEMA-001")])
    on_submission_received(sender=None, submission_id=submission.pk)
    reports = list(FeedbackReport.objects.filter(submission=submission))
    assert [r.kind for r in reports] == [FeedbackKind.SCHEMA_VALIDATION]
    assert enqueued.ids("produce_report") == [reports[0].pk]


def test_records_with_errors_get_content_feedback_and_an_ident_message_its_check(people, enqueued):
    activity = make_submission(people.submitter, status="accepted_with_errors", findings=[finding("DATE-001", "r1")])
    ident = make_submission(people.submitter, kind="ident", status="accepted")
    clean = make_submission(people.submitter, status="accepted")
    for submission in (activity, ident, clean):
        on_submission_received(sender=None, submission_id=submission.pk)
        on_submission_received(sender=None, submission_id=submission.pk)  # a replayed signal changes nothing
    assert list(FeedbackReport.objects.filter(submission=activity).values_list("kind", flat=True)) == [
        FeedbackKind.CONTENT_VALIDATION
    ]
    assert list(FeedbackReport.objects.filter(submission=ident).values_list("kind", flat=True)) == [FeedbackKind.IDENT]
    assert not FeedbackReport.objects.filter(submission=clean).exists()


def test_content_feedback_is_an_encrypted_standalone_html_file_with_rule_record_and_fix(people, enqueued):
    submission = make_submission(
        people.submitter,
        status="accepted_with_errors",
        findings=[
            finding("ICD-001", "rec-17", message="X99.9.9 er ikke en ICD-10-kode."),
            finding("RECORD-002", "rec-3", severity="warning"),
        ],
    )
    services.feedback_for_submission(submission_id=submission.pk)
    report = FeedbackReport.objects.get(submission=submission)
    assert services.report_produce(report_id=report.pk)
    assert not services.report_produce(report_id=report.pk)  # once
    report.refresh_from_db()
    assert report.status == FeedbackReport.Status.PRODUCED
    assert (
        report.file_name
        == f"tilbakemelding-innholdsvalidering-NPR-innsender-{people.submitter.pk}-melding-{submission.pk}.zip"
    )
    assert "Hansen" not in report.file.name and people.submitter.org_number not in report.file.name
    files = _archive(report)
    assert list(files) == [f"innholdsvalidering-NPR-{submission.pk}.html"]
    html = files[f"innholdsvalidering-NPR-{submission.pk}.html"].decode()
    assert html.startswith("<!DOCTYPE html>") and 'lang="nb"' in html
    assert "ICD-001" in html and "rec-17" in html and "X99.9.9 er ikke en ICD-10-kode." in html
    assert "Bruk en gyldig ICD-10-kode" in html  # how to fix, in Norwegian
    assert "Advarsel" in html and "Feil" in html
    # Offline: no external assets of any kind.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html and "<link" not in html


def test_validation_archives_go_to_types_1_and_15_and_sms_to_those_with_a_mobile(people, enqueued):
    submission = make_submission(people.submitter, status="rejected", findings=[finding("SCHEMA-001")])
    services.feedback_for_submission(submission_id=submission.pk)
    report = FeedbackReport.objects.get(submission=submission)
    services.report_produce(report_id=report.pk)
    emails = set(EmailDelivery.objects.filter(report=report).values_list("contact_name", flat=True))
    assert emails == {"Tore Teknisk", "Vera Leverandør", "Nils Utenmobil"}
    sms = set(SmsOutbox.objects.filter(submitter=people.submitter).values_list("contact_name", flat=True))
    assert sms == {"Tore Teknisk", "Vera Leverandør"}  # Nils has no mobile: no SMS
    assert sorted(enqueued.ids("send_report_email")) == sorted(
        EmailDelivery.objects.filter(report=report).values_list("id", flat=True)
    )


def test_activity_goes_to_type_1_and_the_submitters_service_area_types(people, staff, enqueued):
    report = services.activity_request(user=staff, submitter=people.submitter, register="NPR", year=YEAR)
    services.report_produce(report_id=report.pk)
    emails = set(EmailDelivery.objects.filter(report=report).values_list("contact_name", flat=True))
    assert emails == {"Tore Teknisk", "Nils Utenmobil", "Sara Somatikk"}  # not 15, not 3 (no such area)


def test_one_password_per_month_used_by_every_archive_and_one_sms_per_contact(people, staff, enqueued):
    first = services.activity_request(user=staff, submitter=people.submitter, register="NPR", year=YEAR)
    second = make_submission(people.submitter, status="rejected", findings=[finding("SCHEMA-001")])
    services.feedback_for_submission(submission_id=second.pk)
    second_report = FeedbackReport.objects.get(submission=second)
    for report in (first, second_report):
        services.report_produce(report_id=report.pk)
        report.refresh_from_db()
    assert first.password_month == second_report.password_month
    assert MonthlyPassword.objects.filter(submitter=people.submitter).count() == 1
    assert _archive(first) and _archive(second_report)  # both open with the one password
    rows = SmsOutbox.objects.filter(submitter=people.submitter)
    assert sorted(rows.values_list("contact_name", flat=True)) == ["Sara Somatikk", "Tore Teknisk", "Vera Leverandør"]


def test_activity_archive_is_an_xlsx_stored_in_an_aes_zip(people, staff, enqueued):
    add_records(people.submitter, [npr_row(i, 1 + i % 3) for i in range(30)])
    report = services.activity_request(user=staff, submitter=people.submitter, register="NPR", year=YEAR)
    services.report_produce(report_id=report.pk)
    report.refresh_from_db()
    assert report.file_name == f"tilbakemelding-aktivitet-NPR-{YEAR}-innsender-{people.submitter.pk}.zip"
    with default_storage.open(report.file.name, "rb") as file:
        data = file.read()
    assert len(data) == report.size
    [member] = inspect_encryption(io.BytesIO(data))
    assert (member.name, member.strength, member.vendor_version, member.actual_compress_type) == (
        f"aktivitet-NPR-{YEAR}.xlsx",
        3,
        2,
        0,
    )
    book = load_workbook(io.BytesIO(_archive(report)[member.name]))
    assert book.sheetnames == [
        "Sammendrag",
        "Per måned",
        "Per kategori",
        "Måned og kategori",
        "Tilstandskoder",
        "Prosedyrekoder",
        "Funn",
        "Sammenligning med i fjor",
    ]


def test_activity_after_the_effective_deadline(db, enqueued):
    from tests.factories import SubmitterFactory

    # Not the seeded calendar's 10 May: a deadline of its own, so that only these submitters are due.
    deadline = DeadlineFactory(year=YEAR, due_date=datetime.date(YEAR, 5, 13))
    on_time = SubmitterFactory()
    extended = SubmitterFactory()
    ExtensionFactory(
        submitter=extended,
        deadline=deadline,
        status="granted",
        granted_date=deadline.due_date + datetime.timedelta(days=10),
        decided_at=datetime.datetime(YEAR, 5, 1, tzinfo=datetime.UTC),
    )
    not_reporting = SubmitterFactory(reports_npr=False, reports_kpr=True)
    day_after = deadline.due_date + datetime.timedelta(days=1)

    assert services.activity_due(today=day_after) == 1
    assert services.activity_due(today=day_after) == 1  # a second run asks again, but nothing new is made
    report = FeedbackReport.objects.get(kind="activity")
    assert report.submitter == on_time and report.trigger == "deadline"
    assert (report.period_start, report.period_end, report.year) == (deadline.period_start, deadline.period_end, YEAR)

    assert services.activity_due(today=day_after + datetime.timedelta(days=10)) == 1
    assert set(FeedbackReport.objects.values_list("submitter_id", flat=True)) == {on_time.pk, extended.pk}
    assert not FeedbackReport.objects.filter(submitter=not_reporting).exists()


def test_only_staff_order_activity_feedback(people):
    with pytest.raises(PermissionDenied):
        services.activity_request(user=UserFactory(), submitter=people.submitter, register="NPR", year=YEAR)


# -- many at once: the daily job's fan-out in chunks ---------------------------------------------


def _due_reports(count: int, settings, chunk: int) -> list[FeedbackReport]:
    """`count` submitters due after a deadline of their own, each with a type-1 contact."""
    from tests.factories import ContactFactory, SubmitterFactory

    settings.FEEDBACK_PRODUCE_CHUNK = chunk
    deadline = DeadlineFactory(year=YEAR, due_date=datetime.date(YEAR, 5, 13))
    for index in range(count):
        submitter = SubmitterFactory()
        ContactFactory(submitter=submitter, contact_types=[1], mobile=f"+4790{index:06d}")
        add_records(submitter, [npr_row(i, 1 + i % 12) for i in range(12)])
    assert services.activity_due(today=deadline.due_date + datetime.timedelta(days=1)) == count
    return list(FeedbackReport.objects.order_by("id"))


def test_the_daily_job_enqueues_production_in_chunks(db, settings, enqueued):
    reports = _due_reports(7, settings, chunk=3)
    chunks = [args[0] for name, args in enqueued.calls if name == "produce_reports"]
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert sorted(pk for chunk in chunks for pk in chunk) == [r.pk for r in reports]
    assert enqueued.ids("produce_report") == []


def test_a_chunk_produces_each_archive_once_with_its_deliveries(db, settings, enqueued):
    reports = _due_reports(5, settings, chunk=5)
    ids = [r.pk for r in reports]
    assert sorted(services.reports_produce(report_ids=ids)) == ids
    assert services.reports_produce(report_ids=ids) == []  # once
    assert not services.report_produce(report_id=ids[0])
    for report in FeedbackReport.objects.filter(pk__in=ids).select_related("submitter"):
        assert report.status == FeedbackReport.Status.PRODUCED and report.attempts == 1
        book = load_workbook(io.BytesIO(_archive(report)[f"aktivitet-NPR-{YEAR}.xlsx"]))
        assert book["Sammendrag"]["B2"].value == report.submitter.name
        assert book["Sammendrag"]["B7"].value == 12  # records
        with default_storage.open(report.file.name, "rb") as file:
            data = file.read()
        assert len(data) == report.size
        # AES-256 (AE-2), the xlsx stored as it is (it is a zip already), not deflated again.
        [member] = inspect_encryption(io.BytesIO(data))
        assert (member.strength, member.vendor_version, member.actual_compress_type) == (3, 2, 0)
    # One e-mail per report and one SMS per contact, each enqueued once.
    assert EmailDelivery.objects.filter(report_id__in=ids).count() == 5
    assert sorted(enqueued.ids("send_report_email")) == sorted(EmailDelivery.objects.values_list("id", flat=True))
    assert sorted(enqueued.ids("send_password_sms")) == sorted(SmsOutbox.objects.values_list("id", flat=True))
    assert SmsOutbox.objects.count() == MonthlyPassword.objects.count() == 5


def test_a_chunk_leaves_reports_held_by_another_worker_and_records_one_that_fails(db, settings, enqueued, monkeypatch):
    import uuid

    from django.utils import timezone

    from feedback.services import reports as reports_module

    reports = _due_reports(4, settings, chunk=4)
    held, failing = reports[0], reports[1]
    FeedbackReport.objects.filter(pk=held.pk).update(
        status=FeedbackReport.Status.PRODUCING,
        claim=uuid.uuid4(),
        lease_until=timezone.now() + datetime.timedelta(minutes=5),
        attempts=1,
    )
    build = reports_module.build_members

    def build_or_fail(report, **kwargs):
        if report.pk == failing.pk:
            raise ValueError("bad data")
        return build(report, **kwargs)

    monkeypatch.setattr(reports_module, "build_members", build_or_fail)
    produced = services.reports_produce(report_ids=[r.pk for r in reports])
    assert sorted(produced) == [reports[2].pk, reports[3].pk]
    held.refresh_from_db()
    failing.refresh_from_db()
    assert held.status == FeedbackReport.Status.PRODUCING and not held.file
    assert failing.status == FeedbackReport.Status.PENDING and failing.error == "ValueError: bad data"
    assert failing.lease_until > timezone.now()  # backs off
    assert not EmailDelivery.objects.filter(report__in=[held, failing]).exists()


def test_a_report_taken_over_during_the_chunk_keeps_the_other_workers_archive(db, settings, enqueued, monkeypatch):
    import uuid

    from feedback.services import reports as reports_module

    reports = _due_reports(3, settings, chunk=3)
    stolen = reports[0]
    build = reports_module.build_members
    stored: list[str] = []
    save = reports_module.default_storage.save

    def build_and_lose_one(report, **kwargs):
        # Our lease on `stolen` ran out and another worker claimed it while we were busy.
        FeedbackReport.objects.filter(pk=stolen.pk).update(claim=uuid.uuid4())
        return build(report, **kwargs)

    def save_and_remember(name, content, **kwargs):
        stored.append(save(name, content, **kwargs))
        return stored[-1]

    monkeypatch.setattr(reports_module, "build_members", build_and_lose_one)
    monkeypatch.setattr(reports_module.default_storage, "save", save_and_remember)
    produced = services.reports_produce(report_ids=[r.pk for r in reports])
    assert sorted(produced) == [reports[1].pk, reports[2].pk]
    stolen.refresh_from_db()
    assert stolen.status == FeedbackReport.Status.PRODUCING and not stolen.file
    assert len(stored) == 3
    assert [default_storage.exists(name) for name in stored].count(False) == 1  # ours for `stolen` deleted
    assert not EmailDelivery.objects.filter(report=stolen).exists()


def test_a_failing_cleanup_after_the_commit_keeps_the_committed_archives(db, settings, enqueued, monkeypatch):
    """Deleting our copy of a taken-over archive happens after the commit; if the storage fails there (or a soft
    time limit fires), the chunk's committed archives must stay, and their ids come back as produced."""
    import uuid

    from feedback.services import reports as reports_module

    reports = _due_reports(3, settings, chunk=3)
    stolen = reports[0]
    build = reports_module.build_members

    def build_and_lose_one(report, **kwargs):
        FeedbackReport.objects.filter(pk=stolen.pk).update(claim=uuid.uuid4())
        return build(report, **kwargs)

    def delete_fails(name):
        raise RuntimeError("storage backend down")

    monkeypatch.setattr(reports_module, "build_members", build_and_lose_one)
    monkeypatch.setattr(reports_module.default_storage, "delete", delete_fails)
    produced = services.reports_produce(report_ids=[r.pk for r in reports])
    assert sorted(produced) == [reports[1].pk, reports[2].pk]
    for report in FeedbackReport.objects.filter(pk__in=produced):
        assert report.status == FeedbackReport.Status.PRODUCED
        assert default_storage.exists(report.file.name)


def test_a_chunk_out_of_time_hands_the_rest_back_to_the_queue(db, settings, enqueued, monkeypatch):
    from feedback.services import reports as reports_module

    reports = _due_reports(3, settings, chunk=3)
    monkeypatch.setattr(reports_module, "CHUNK_BUDGET_SECONDS", 0.0)
    enqueued.calls.clear()
    produced = services.reports_produce(report_ids=[r.pk for r in reports])
    assert produced == [reports[0].pk]  # at least one is made, however short the budget
    rest = FeedbackReport.objects.filter(pk__in=[reports[1].pk, reports[2].pk])
    assert set(rest.values_list("status", "attempts")) == {(FeedbackReport.Status.PENDING, 0)}
    assert [args[0] for name, args in enqueued.calls if name == "produce_reports"] == [[reports[1].pk, reports[2].pk]]


def test_two_reports_for_one_message_are_produced_as_one_chunk(people, enqueued):
    """An ident message with errors gets content feedback and its identity check: asked for together, they
    are enqueued as one chunk, and both archives open with the month's one password."""
    submission = make_submission(
        people.submitter, kind="ident", status="accepted_with_errors", findings=[finding("IDENT-001", "r1")]
    )
    services.feedback_for_submission(submission_id=submission.pk)
    [chunk] = [args[0] for name, args in enqueued.calls if name == "produce_reports"]
    assert services.reports_produce(report_ids=chunk) == sorted(chunk)
    names = {}
    for report in FeedbackReport.objects.filter(pk__in=chunk):
        [(name, html)] = _archive(report).items()
        names[report.kind] = name
        assert html.startswith(b"<!DOCTYPE html>")
    assert names == {
        FeedbackKind.CONTENT_VALIDATION: f"innholdsvalidering-NPR-{submission.pk}.html",
        FeedbackKind.IDENT: f"identkontroll-NPR-{submission.pk}.html",
    }
    assert MonthlyPassword.objects.filter(submitter=people.submitter).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_broker_down_after_the_commit_loses_no_archive_and_stops_nothing(settings, monkeypatch):
    """The rows commit before their tasks are sent: a broker that is down then leaves the work to the sweep.
    The daily job goes on, and the archives of reports marked produced stay where their rows point."""
    from kombu.exceptions import OperationalError as BrokerError

    def broker_down(name, *args):
        raise BrokerError("Error 111 connecting to the broker. Connection refused.")

    monkeypatch.setattr("feedback.services.queue.send", broker_down)
    reports = _due_reports(3, settings, chunk=2)  # the daily job's enqueueing fails: it returns all the same
    ids = [r.pk for r in reports]
    assert sorted(services.reports_produce(report_ids=ids[:2])) == ids[:2]
    assert services.report_produce(report_id=ids[2])
    for report in FeedbackReport.objects.filter(pk__in=ids):
        assert report.status == FeedbackReport.Status.PRODUCED
        assert default_storage.exists(report.file.name), report.pk
    # Not enqueued, so left for the sweep.
    assert EmailDelivery.objects.filter(status=EmailDelivery.Status.PENDING).count() == 3
    assert SmsOutbox.objects.filter(status=SmsOutbox.Status.PENDING).count() == 3


def test_archive_files_no_report_refers_to_are_deleted_once_a_day_old(people, enqueued, settings, tmp_path):
    import os

    from django.core.files.base import ContentFile
    from django.utils import timezone

    settings.MEDIA_ROOT = str(tmp_path)
    submission = make_submission(people.submitter, status="rejected")
    services.feedback_for_submission(submission_id=submission.pk)
    report = FeedbackReport.objects.get()
    services.report_produce(report_id=report.pk)
    report.refresh_from_db()
    folder = report.file.name.rsplit("/", 1)[0]
    stray = default_storage.save(f"{folder}/999999-skjemavalidering.zip", ContentFile(b"left by a killed worker"))
    fresh = default_storage.save(f"{folder}/999998-skjemavalidering.zip", ContentFile(b"being recorded right now"))
    other_month = default_storage.save("feedback/2030/01/7-aktivitet.zip", ContentFile(b"old month"))
    two_days_ago = (timezone.now() - datetime.timedelta(days=2)).timestamp()
    for name in (report.file.name, stray, other_month):
        os.utime(default_storage.path(name), (two_days_ago, two_days_ago))

    assert services.orphan_archives_delete() == 2
    assert default_storage.exists(report.file.name)  # a report's archive stays, however old
    assert default_storage.exists(fresh)  # may belong to a production not yet committed
    assert not default_storage.exists(stray) and not default_storage.exists(other_month)
    assert services.orphan_archives_delete() == 0  # idempotent
