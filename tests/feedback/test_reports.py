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
