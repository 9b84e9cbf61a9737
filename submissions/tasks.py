"""Thin Celery tasks for submissions: take ids, call a service."""

from __future__ import annotations

import datetime
import smtplib

from celery import shared_task
from django.utils import timezone

from submissions import deadlines


@shared_task(
    name="submissions.tasks.send_extension_decision",
    ignore_result=True,
    acks_late=True,  # idempotent: the service claims the row before sending
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=30,
    retry_backoff_max=3600,
    max_retries=6,
    soft_time_limit=60,
    time_limit=90,
)
def send_extension_decision(extension_id: int) -> None:
    deadlines.extension_decision_mail(extension_id=extension_id)


@shared_task(
    name="submissions.tasks.send_deadline_reminders",
    ignore_result=True,
    # 60,000 submitters may need a reminder on the same day; the ledger makes a rerun safe.
    soft_time_limit=3300,
    time_limit=3600,
)
def send_deadline_reminders(today: str | None = None) -> None:
    """Celery beat runs this every morning (CELERY_BEAT_SCHEDULE); `today` (ISO date) is for reruns."""
    day = datetime.date.fromisoformat(today) if today else timezone.localdate()
    deadlines.reminders_send(today=day)


# -- the daily view's snapshot ---------------------------------------------------------------------


@shared_task(
    name="submissions.tasks.refresh_snapshot",
    ignore_result=True,
    acks_late=True,  # idempotent: the service claims the pending run, and a recompute can be repeated
    # A full rebuild of 15 million records takes about a minute (docs/benchmarks.md).
    soft_time_limit=1800,
    time_limit=1900,
)
def refresh_snapshot(run_id: int) -> None:
    """Registry staff asked for a refresh (one submitter or everything)."""
    from submissions import snapshot

    snapshot.snapshot_run_execute(run_id=run_id)


@shared_task(
    name="submissions.tasks.refresh_snapshot_nightly", ignore_result=True, soft_time_limit=1800, time_limit=1900
)
def refresh_snapshot_nightly() -> None:
    """Celery beat, every night (Europe/Oslo): the submitters with records received since the last run."""
    from submissions import snapshot
    from submissions.models import SnapshotRun

    run = SnapshotRun.objects.create(scope=SnapshotRun.Scope.NIGHTLY)
    snapshot.snapshot_run_execute(run_id=run.pk)
