"""The daily reminder job: who gets a reminder, when, and never twice."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail

from submissions.deadlines import reminders_send
from submissions.models import DeadlineReminder, Extension
from submissions.tasks import send_deadline_reminders
from submissions.workdays import OSLO
from tests.factories import (
    AcceptedSubmissionFactory,
    ContactFactory,
    DeadlineFactory,
    ExtensionFactory,
    SubmitterFactory,
)

pytestmark = pytest.mark.django_db
D = datetime.date
FOURTEEN_DAYS_BEFORE = D(2030, 4, 26)  # the deadline is 10 May 2030
THREE_DAYS_BEFORE = D(2030, 5, 7)


@pytest.fixture
def deadline():
    return DeadlineFactory(year=2030)


def recipients():
    return sorted(address for message in mail.outbox for address in message.to)


def test_contacts_of_type_1_of_submitters_that_have_not_delivered_get_one_reminder(world, deadline):
    per = world.specialist.contacts.get()  # types 1 and 3
    eva = world.other_specialist.contacts.get()  # types 1 and 2
    ContactFactory(submitter=world.specialist, email="avdeling@example.no", contact_types=[3])

    run = reminders_send(today=FOURTEEN_DAYS_BEFORE)

    assert (run.claimed, run.sent) == (2, 2)
    assert recipients() == sorted([per.email, eva.email])  # the municipality reports to KPR: not reminded
    message = next(m for m in mail.outbox if m.to == [per.email])
    assert message.subject == "Påminnelse: rapporteringsfristen for NPR er 10. mai 2030"
    assert "Psykiater Hansen" in message.body
    assert "14 dager: 10. mai 2030 kl. 23.59" in message.body
    reminder = DeadlineReminder.objects.get(submitter=world.specialist)
    assert (reminder.status, reminder.days_before, reminder.due_date, reminder.recipient_count) == (
        DeadlineReminder.Status.SENT,
        14,
        D(2030, 5, 10),
        1,
    )


def test_running_the_job_twice_sends_each_reminder_once(world, deadline):
    reminders_send(today=FOURTEEN_DAYS_BEFORE)
    second = reminders_send(today=FOURTEEN_DAYS_BEFORE)
    assert (second.claimed, second.sent) == (0, 0)
    assert len(mail.outbox) == 2
    assert DeadlineReminder.objects.count() == 2
    # The next reminder day is a new reminder; the days between send nothing.
    reminders_send(today=FOURTEEN_DAYS_BEFORE + datetime.timedelta(days=1))
    assert len(mail.outbox) == 2
    reminders_send(today=THREE_DAYS_BEFORE)
    reminders_send(today=THREE_DAYS_BEFORE)
    assert len(mail.outbox) == 4
    assert sorted(DeadlineReminder.objects.values_list("days_before", flat=True)) == [3, 3, 14, 14]


def test_the_celery_task_runs_the_job_for_the_given_day(world, deadline):
    send_deadline_reminders(FOURTEEN_DAYS_BEFORE.isoformat())
    send_deadline_reminders(FOURTEEN_DAYS_BEFORE.isoformat())
    assert len(mail.outbox) == 2


def test_a_complete_delivery_stops_the_reminders_and_half_of_one_does_not(world, deadline):
    received = datetime.datetime(2030, 4, 20, 12, tzinfo=OSLO)
    for kind in ("activity", "ident"):
        AcceptedSubmissionFactory(submitter=world.specialist, kind=kind, received_at=received)
    AcceptedSubmissionFactory(submitter=world.other_specialist, kind="activity", received_at=received)
    reminders_send(today=FOURTEEN_DAYS_BEFORE)
    assert recipients() == [world.other_specialist.contacts.get().email]


def test_validation_only_and_rejected_messages_do_not_count(world, deadline):
    received = datetime.datetime(2030, 4, 20, 12, tzinfo=OSLO)
    for kind in ("activity", "ident"):
        AcceptedSubmissionFactory(submitter=world.specialist, kind=kind, received_at=received, validate_only=True)
        AcceptedSubmissionFactory(submitter=world.other_specialist, kind=kind, received_at=received, status="rejected")
    assert reminders_send(today=FOURTEEN_DAYS_BEFORE).sent == 2


def test_an_extended_deadline_is_reminded_before_the_new_date(world, deadline):
    ExtensionFactory(
        submitter=world.other_specialist,
        deadline=deadline,
        status=Extension.Status.GRANTED,
        granted_date=D(2030, 6, 1),
        decided_at=datetime.datetime(2030, 4, 1, tzinfo=OSLO),
    )
    reminders_send(today=FOURTEEN_DAYS_BEFORE)
    assert recipients() == [world.specialist.contacts.get().email]
    mail.outbox.clear()
    reminders_send(today=D(2030, 5, 18))  # 14 days before 1 June
    assert recipients() == [world.other_specialist.contacts.get().email]
    assert "1. juni 2030 kl. 23.59" in mail.outbox[0].body
    reminders_send(today=D(2030, 5, 18))
    assert len(mail.outbox) == 1


def test_no_type_1_contact_is_recorded_and_not_retried(world, deadline):
    lonely = SubmitterFactory(name="Uten teknisk kontakt")
    ContactFactory(submitter=lonely, contact_types=[2])
    run = reminders_send(today=FOURTEEN_DAYS_BEFORE)
    assert (run.sent, run.without_recipient) == (2, 1)
    assert DeadlineReminder.objects.get(submitter=lonely).status == DeadlineReminder.Status.NO_RECIPIENT
    assert reminders_send(today=FOURTEEN_DAYS_BEFORE).claimed == 0


def test_a_failed_e_mail_is_retried_by_the_next_run_and_then_sent_once(world, deadline, monkeypatch):
    def broken(self, *args, **kwargs):
        raise OSError("mail server down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", broken)
    run = reminders_send(today=FOURTEEN_DAYS_BEFORE)
    assert (run.claimed, run.failed, run.sent) == (2, 2, 0)
    failed = DeadlineReminder.objects.get(submitter=world.specialist)
    assert (failed.status, failed.attempts) == (DeadlineReminder.Status.FAILED, 1)
    assert "mail server down" in failed.error
    monkeypatch.undo()
    run = reminders_send(today=FOURTEEN_DAYS_BEFORE)
    assert (run.claimed, run.sent) == (2, 2)
    assert reminders_send(today=FOURTEEN_DAYS_BEFORE).claimed == 0
    assert len(mail.outbox) == 2


def test_the_days_come_from_the_settings(world, deadline, settings):
    settings.DEADLINE_REMINDER_DAYS = [7]
    reminders_send(today=FOURTEEN_DAYS_BEFORE)
    assert mail.outbox == []
    reminders_send(today=D(2030, 5, 3))
    assert len(mail.outbox) == 2
    assert DeadlineReminder.objects.filter(days_before=7).count() == 2


def test_the_claim_is_the_unique_row(world, deadline):
    """A second job that starts while the first is sending finds the rows taken and sends nothing."""
    reminders_send(today=FOURTEEN_DAYS_BEFORE)
    DeadlineReminder.objects.update(status=DeadlineReminder.Status.PENDING)  # as if the first were still sending
    assert reminders_send(today=FOURTEEN_DAYS_BEFORE).claimed == 0
    assert len(mail.outbox) == 2
