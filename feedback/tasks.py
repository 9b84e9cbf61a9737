"""Thin Celery tasks for feedback: take ids, call a service. All idempotent (the services claim rows), so
they are acks_late: a task whose worker died is delivered again and finds the work done or takes it over."""

from __future__ import annotations

import datetime
import smtplib

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from feedback import services
from feedback.sms.backends.base import SmsTemporaryError

COMMON = {"ignore_result": True, "acks_late": True, "reject_on_worker_lost": True}
# Producing one report or a chunk: a chunk hands on what it has not made after
# services.reports.CHUNK_BUDGET_SECONDS (60 s), well within the soft limit.
PRODUCE = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 10,
    "retry_backoff_max": 600,
    "max_retries": 5,
    "soft_time_limit": 240,
    "time_limit": 300,
    **COMMON,
}


@shared_task(name="feedback.tasks.produce_report", **PRODUCE)
def produce_report(report_id: int) -> None:
    services.report_produce(report_id=report_id)


@shared_task(name="feedback.tasks.produce_reports", **PRODUCE)
def produce_reports(report_ids: list[int]) -> None:
    """A chunk of the reports asked for at once (the daily job's fan-out), each produced exactly once."""
    services.reports_produce(report_ids=report_ids)


@shared_task(
    name="feedback.tasks.send_report_email",
    autoretry_for=(OSError, smtplib.SMTPException, OperationalError),
    retry_backoff=30,
    retry_backoff_max=3600,
    max_retries=6,
    soft_time_limit=60,
    time_limit=90,
    **COMMON,
)
def send_report_email(delivery_id: int) -> None:
    services.email_send(delivery_id=delivery_id)


@shared_task(
    name="feedback.tasks.send_password_sms",
    autoretry_for=(SmsTemporaryError, OperationalError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=5,
    soft_time_limit=90,
    time_limit=120,
    **COMMON,
)
def send_password_sms(outbox_id: int) -> None:
    services.sms_send(outbox_id=outbox_id)


@shared_task(name="feedback.tasks.produce_due_activity", ignore_result=True, soft_time_limit=1700, time_limit=1800)
def produce_due_activity(today: str | None = None) -> None:
    """Beat, every morning: activity feedback the day after each submitter's effective deadline."""
    day = datetime.date.fromisoformat(today) if today else timezone.localdate()
    services.activity_due(today=day)


@shared_task(name="feedback.tasks.erase_past_passwords", ignore_result=True, soft_time_limit=300, time_limit=360)
def erase_past_passwords() -> None:
    """Beat, every night: the passwords of months that are over are erased."""
    services.passwords_erase_past()


@shared_task(name="feedback.tasks.delete_orphan_archives", ignore_result=True, soft_time_limit=600, time_limit=660)
def delete_orphan_archives() -> None:
    """Beat, every night: archive files left by a worker that died before recording them are deleted."""
    services.orphan_archives_delete()


@shared_task(name="feedback.tasks.sweep", ignore_result=True, soft_time_limit=120, time_limit=150)
def sweep() -> None:
    """Beat, every few minutes: enqueue again the work whose worker died or whose message was lost."""
    services.sweep()
