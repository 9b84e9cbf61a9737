"""Reliability: 200 feedback archives while the worker is killed with SIGKILL 20 times at random moments.

Against the configured broker and database (Redis and PostgreSQL in CI) and a real worker process. Three
of each submitter's five reports are asked for one by one (a task per report), two by the daily job after
two deadlines (a task per chunk of reports, as after a real deadline). After each kill a new worker
starts; the test process plays Celery beat and runs the sweep, which hands out the work whose claim
(lease) ran out. In the end every archive exists and opens with the month's password,
and every contact got the month's SMS exactly once (the database SMS backend stands in for a gateway that
delivers one message per idempotency key).
"""

from __future__ import annotations

import datetime
import io
import random
import signal
import time
import uuid
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage

from feedback import services
from feedback.lib.archives import read_encrypted_zip
from feedback.models import EmailDelivery, FeedbackReport, MonthlyPassword, SmsOutbox, StoredSms
from portal.models import ServiceArea, User
from tests.factories import ContactFactory, DeadlineFactory, SubmitterFactory, UserFactory
from tests.feedback.conftest import YEAR, add_records, npr_row
from tests.worker_process import delete_queue, start_worker, stop_worker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    # kombu's filesystem transport writes a message file in place: a worker killed while it publishes (the
    # e-mail and SMS tasks it enqueues) leaves a truncated file that stops every later worker. Production and
    # CI use Redis, and so does this test.
    pytest.mark.skipif(
        not django_settings.REDIS_URL, reason="needs REDIS_URL: the embedded broker does not survive SIGKILL"
    ),
]

SUBMITTERS = 40
REPORTS_PER_SUBMITTER = 5  # 200 archives: 3 asked for one by one, 2 by the daily job after a deadline
ONE_BY_ONE = 3
CHUNK = 8  # reports per task of the daily job's fan-out: 5 tasks per deadline
KILLS = 20
LEASE_SECONDS = 3  # a dead worker's claim is taken over after this
PATIENCE_SECONDS = 12  # a lost queue message's work is done by the sweep after this
DRAIN_TIMEOUT = 90.0


def _progress() -> dict[str, int]:
    return {
        "produced": FeedbackReport.objects.filter(status=FeedbackReport.Status.PRODUCED).count(),
        "emails": EmailDelivery.objects.filter(status=EmailDelivery.Status.SENT).count(),
        "sms": SmsOutbox.objects.filter(status=SmsOutbox.Status.SENT).count(),
    }


def _wait_until_ready(worker, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while "ready." not in worker.log():
        if worker.process.poll() is not None:
            pytest.fail(f"The worker exited with {worker.process.returncode}:\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"The worker did not start in {timeout} s:\n{worker.log_tail()}")
        time.sleep(0.05)


def test_200_archives_survive_20_sigkills(settings, tmp_path):
    rng = random.Random()
    seed = rng.randrange(1_000_000)
    rng.seed(seed)
    queue = f"feedback-kill-{uuid.uuid4().hex[:10]}"
    settings.FEEDBACK_TASK_QUEUE = queue
    settings.FEEDBACK_LEASE_SECONDS = LEASE_SECONDS
    settings.FEEDBACK_QUEUE_PATIENCE_SECONDS = PATIENCE_SECONDS
    settings.FEEDBACK_PRODUCE_CHUNK = CHUNK
    worker_env = {
        "FEEDBACK_TASK_QUEUE": queue,
        "FEEDBACK_LEASE_SECONDS": str(LEASE_SECONDS),
        "FEEDBACK_QUEUE_PATIENCE_SECONDS": str(PATIENCE_SECONDS),
    }

    staff = UserFactory(username="fhi-kill", registry_role=User.RegistryRole.STAFF)
    contacts = []
    submitters = []
    for index in range(SUBMITTERS):
        submitter = SubmitterFactory(service_areas=[ServiceArea.SOMATIC])
        submitters.append(submitter)
        contacts.append(ContactFactory(submitter=submitter, contact_types=[1], mobile=f"+4791{index:06d}"))
        contacts.append(ContactFactory(submitter=submitter, contact_types=[2], mobile=f"+4741{index:06d}"))
        add_records(submitter, [npr_row(i % 25, 1 + i % 12) for i in range(60)])

    def start():
        # A log per worker: "ready." in it is this worker's.
        return start_worker(queue, log_path=tmp_path / f"worker-{kills}.log", extra_env=worker_env)

    kills = 0
    worker = start()
    started = time.monotonic()
    try:
        # Each request commits on its own and enqueues its task on commit, while the worker runs.
        for round_ in range(ONE_BY_ONE):
            for submitter in submitters:
                services.activity_request(user=staff, submitter=submitter, register="NPR", year=YEAR - round_ % 2)
        # Deadlines of their own (not the seeded calendar's days), so that only these submitters are due.
        for year in (YEAR, YEAR - 1):
            deadline = DeadlineFactory(year=year, due_date=datetime.date(year, 5, 13))
            assert services.activity_due(today=deadline.due_date + datetime.timedelta(days=1)) == SUBMITTERS
        assert FeedbackReport.objects.count() == SUBMITTERS * REPORTS_PER_SUBMITTER

        while kills < KILLS:
            _wait_until_ready(worker)
            time.sleep(rng.uniform(0.05, 1.0))
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait(timeout=10)
            kills += 1
            worker = start()
        by_workers = _progress()

        # Beat's sweep, every couple of seconds, while the last worker drains the queue.
        swept = services.SweepResult()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while True:
            time.sleep(2)
            result = services.sweep()
            swept.reports += result.reports
            swept.emails += result.emails
            swept.sms += result.sms
            progress = _progress()
            if progress == {"produced": 200, "emails": 400, "sms": 2 * SUBMITTERS}:
                break
            if worker.process.poll() is not None:
                pytest.fail(f"The last worker exited:\n{worker.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Not done {DRAIN_TIMEOUT} s after the last kill (seed {seed}): {progress}\n{worker.log_tail()}"
                )
    finally:
        stop_worker(worker)
        delete_queue(queue)
    elapsed = time.monotonic() - started

    # Every archive exists, matches its checksum and opens with the month's password.
    passwords = {row.submitter_id: services.monthly_password_reveal(row) for row in MonthlyPassword.objects.all()}
    assert len(passwords) == SUBMITTERS
    for report in FeedbackReport.objects.all():
        assert report.status == FeedbackReport.Status.PRODUCED
        with default_storage.open(report.file.name, "rb") as file:
            data = file.read()
        assert len(data) == report.size
        files = read_encrypted_zip(io.BytesIO(data), passwords[report.submitter_id])
        assert list(files) == [f"aktivitet-NPR-{report.year}.xlsx"]

    # Each contact got the month's SMS exactly once: one outbox row, one message at the gateway.
    expected = Counter(contact.mobile for contact in contacts)
    assert Counter(StoredSms.objects.values_list("to", flat=True)) == expected
    assert Counter(SmsOutbox.objects.values_list("mobile", flat=True)) == expected
    assert set(SmsOutbox.objects.values_list("status", flat=True)) == {SmsOutbox.Status.SENT}
    for stored in StoredSms.objects.all():
        assert passwords[SmsOutbox.objects.get(mobile=stored.to).submitter_id] in stored.text
    retried = sum(StoredSms.objects.values_list("duplicates", flat=True))
    print(
        f"kill test: seed {seed}, {kills} kills, {elapsed:.1f} s; done while workers were killed: {by_workers}; "
        f"done by the sweep: {swept}; SMS retries absorbed by their reference: {retried}"
    )
