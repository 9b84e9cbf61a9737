"""Tasks are enqueued only when the transaction that made their rows commits, with ids only."""

from __future__ import annotations

import pytest

from feedback import services
from feedback.models import FeedbackReport
from tests.feedback.conftest import finding, make_submission

pytestmark = pytest.mark.django_db


def test_production_is_enqueued_on_commit_with_the_report_id(people, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr("feedback.services.queue.send", lambda name, *args: sent.append((name, args)))
    submission = make_submission(people.submitter, status="rejected", findings=[finding("SCHEMA-001")])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.feedback_for_submission(submission_id=submission.pk)
    assert sent == []  # nothing before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    report = FeedbackReport.objects.get(submission=submission)
    assert sent == [("produce_report", (report.pk,))]


def test_tasks_go_to_the_configured_queue(settings, monkeypatch):
    from feedback import tasks
    from feedback.services import queue

    calls = []
    monkeypatch.setattr(tasks.produce_report, "apply_async", lambda **kwargs: calls.append(kwargs))
    settings.FEEDBACK_TASK_QUEUE = "feedback"
    queue.send("produce_report", 7)
    settings.FEEDBACK_TASK_QUEUE = ""
    queue.send("produce_report", 8)
    assert calls == [{"args": (7,), "queue": "feedback"}, {"args": (8,)}]


def test_tasks_are_idempotent_acks_late_with_time_limits():
    from feedback import tasks

    for task in (tasks.produce_report, tasks.produce_reports, tasks.send_report_email, tasks.send_password_sms):
        assert task.acks_late and task.reject_on_worker_lost
        assert task.soft_time_limit < task.time_limit
        assert 0 < task.max_retries <= 6
