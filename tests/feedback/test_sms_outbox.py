"""Once per contact and month: the outbox row, its claim, the sweep after a dead worker, month's end."""

from __future__ import annotations

import datetime
import io

import pytest
from django.utils import timezone

from feedback import services
from feedback.models import FeedbackReport, MonthlyPassword, SmsOutbox, StoredSms
from feedback.sms import Sms, get_backend
from feedback.sms.backends.console import SmsBackend as ConsoleBackend
from tests.feedback.conftest import finding, make_submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def outbox(people, enqueued) -> list[SmsOutbox]:
    submission = make_submission(people.submitter, status="rejected", findings=[finding("SCHEMA-001")])
    services.feedback_for_submission(submission_id=submission.pk)
    services.report_produce(report_id=FeedbackReport.objects.get(submission=submission).pk)
    return list(SmsOutbox.objects.filter(submitter=people.submitter).order_by("id"))


def test_the_sms_carries_the_months_password_and_goes_once(outbox, people):
    row = outbox[0]
    assert services.sms_send(outbox_id=row.pk)
    assert not services.sms_send(outbox_id=row.pk)
    [stored] = StoredSms.objects.all()
    password = services.monthly_password_reveal(MonthlyPassword.objects.get(submitter=people.submitter))
    assert password in stored.text and stored.to == row.mobile and stored.reference == row.reference
    assert "Passord" in stored.text
    row.refresh_from_db()
    assert row.status == SmsOutbox.Status.SENT and row.sent_at is not None


def test_a_second_report_in_the_month_adds_no_sms(outbox, people, enqueued):
    again = make_submission(people.submitter, status="rejected", findings=[finding("SCHEMA-001")])
    services.feedback_for_submission(submission_id=again.pk)
    services.report_produce(report_id=FeedbackReport.objects.get(submission=again).pk)
    assert SmsOutbox.objects.filter(submitter=people.submitter).count() == len(outbox)


def test_a_claimed_row_is_not_sent_by_anyone_else(outbox):
    row = outbox[0]
    SmsOutbox.objects.filter(pk=row.pk).update(
        status=SmsOutbox.Status.SENDING, lease_until=timezone.now() + datetime.timedelta(minutes=5)
    )
    assert not services.sms_send(outbox_id=row.pk)
    assert not StoredSms.objects.exists()


def test_after_a_dead_worker_a_deduplicating_backend_retries_with_the_same_reference(outbox, enqueued):
    row = outbox[0]
    # The worker handed the SMS to the gateway and died before it could mark the row sent.
    get_backend().send(Sms(to=row.mobile, text="x", reference=row.reference))
    SmsOutbox.objects.filter(pk=row.pk).update(
        status=SmsOutbox.Status.SENDING, lease_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert services.sweep().sms == 1
    row.refresh_from_db()
    assert row.status == SmsOutbox.Status.SENT
    stored = StoredSms.objects.get(reference=row.reference)
    assert stored.duplicates == 1  # the gateway delivered it once
    assert StoredSms.objects.count() == 1


def test_after_a_dead_worker_a_plain_backend_marks_the_sms_uncertain(outbox, enqueued):
    row = outbox[0]
    SmsOutbox.objects.filter(pk=row.pk).update(
        status=SmsOutbox.Status.SENDING, lease_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    result = services.sweep(backend=ConsoleBackend(stream=io.StringIO()))
    assert result.sms_uncertain == 1
    row.refresh_from_db()
    assert row.status == SmsOutbox.Status.UNCERTAIN
    assert not services.sms_send(outbox_id=row.pk)


def test_the_sweep_does_pending_work_whose_lease_ran_out_and_leaves_fresh_work_to_its_task(outbox, enqueued):
    row = outbox[0]
    assert services.sweep().sms == 0  # fresh rows have a lease: their tasks are queued
    SmsOutbox.objects.filter(pk=row.pk).update(lease_until=timezone.now() - datetime.timedelta(seconds=1))
    assert services.sweep().sms == 1
    assert StoredSms.objects.get().reference == row.reference
    assert services.sweep().sms == 0
    assert not services.sms_send(outbox_id=row.pk)  # the task that arrives late finds it done


def test_when_the_month_is_over_the_password_is_erased_and_waiting_sms_expire(outbox, people):
    password = MonthlyPassword.objects.get(submitter=people.submitter)
    next_month = datetime.datetime.combine(
        password.month + datetime.timedelta(days=40), datetime.time(1), tzinfo=datetime.UTC
    )
    assert services.passwords_erase_past(now=next_month) == 1
    password.refresh_from_db()
    assert password.erased_at is not None and bytes(password.secret) == b""
    with pytest.raises(services.PasswordUnavailable):
        services.monthly_password_reveal(password)
    assert set(SmsOutbox.objects.values_list("status", flat=True)) == {SmsOutbox.Status.EXPIRED}
    assert not services.sms_send(outbox_id=outbox[0].pk)


def test_the_sms_repr_never_shows_the_text():
    assert "hemmelig" not in repr(Sms(to="+4791234567", text="hemmelig", reference="r"))
