"""The safety net (Celery beat, every few minutes): finish the work whose claim or queue message was lost.

A worker killed mid-task leaves its claim behind until the lease runs out; a message lost with its worker
(or with a broker that drops unacknowledged messages) leaves a PENDING row nobody will pick up. The sweep
does that work itself, within a time budget, through the same idempotent services: the claims decide who
does it, so a late task that still arrives finds it done. It enqueues nothing, so a long queue (60,000
activity workbooks after a deadline) never fills up with copies.
"""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from feedback.models import EmailDelivery, FeedbackReport, SmsOutbox
from feedback.services.delivery import email_send, sms_send
from feedback.services.reports import report_produce
from feedback.sms import get_backend

logger = logging.getLogger(__name__)

SWEEP_LIMIT = 2000


@dataclass
class SweepResult:
    reports: int = 0
    emails: int = 0
    sms: int = 0
    sms_uncertain: int = 0
    failed: int = 0
    out_of_time: bool = False


def sweep(*, now: datetime.datetime | None = None, backend=None, budget_seconds: float = 90.0) -> SweepResult:
    now = now or timezone.now()
    deadline = time.monotonic() + budget_seconds
    result = SweepResult()
    expired = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    backend = backend or get_backend()

    # SMS claimed by a worker that died: send again with the same reference only if the backend delivers a
    # reference once; otherwise nobody can know whether it left, so staff decide (and resend).
    stale = SmsOutbox.objects.filter(expired, status=SmsOutbox.Status.SENDING)
    if backend.deduplicates:
        stale.update(status=SmsOutbox.Status.PENDING, lease_until=None)
    else:
        result.sms_uncertain = stale.update(status=SmsOutbox.Status.UNCERTAIN, lease_until=None)

    work = [
        (
            "reports",
            FeedbackReport.objects.filter(
                expired, status__in=[FeedbackReport.Status.PENDING, FeedbackReport.Status.PRODUCING]
            ),
            lambda pk: report_produce(report_id=pk),
        ),
        (
            "emails",
            EmailDelivery.objects.filter(
                expired, status__in=[EmailDelivery.Status.PENDING, EmailDelivery.Status.SENDING]
            ),
            lambda pk: email_send(delivery_id=pk),
        ),
        (
            "sms",
            SmsOutbox.objects.filter(expired, status=SmsOutbox.Status.PENDING),
            lambda pk: sms_send(outbox_id=pk, backend=backend),
        ),
    ]
    for name, rows, do in work:
        for pk in list(rows.order_by("id").values_list("id", flat=True)[:SWEEP_LIMIT]):
            if time.monotonic() > deadline:
                result.out_of_time = True
                break
            try:
                done = do(pk)
            except Exception as error:  # recorded on the row by the service; the next sweep tries again
                result.failed += 1
                logger.warning("Feedback sweep: %s %s failed: %s", name, pk, type(error).__name__)
                continue
            if done:
                setattr(result, name, getattr(result, name) + 1)
    if result.reports or result.emails or result.sms or result.sms_uncertain or result.failed:
        logger.info("Feedback sweep: %s", result)
    return result


# Archive files are written before the transaction that records them commits: a worker killed in between (or a
# rollback whose own cleanup failed) leaves a file no report points to. Such a file is deleted once it is older
# than any production could still be running (the lease is minutes; a day is far beyond it).
ORPHAN_MIN_AGE = datetime.timedelta(days=1)
ARCHIVE_ROOT = "feedback"


def orphan_archives_delete(*, now: datetime.datetime | None = None) -> int:
    """Beat, every night: delete archive files that no feedback report refers to and that are older than a
    day. Goes month folder by month folder (feedback/YYYY/MM), comparing with that month's file names."""
    now = now or timezone.now()
    deleted = 0
    if not default_storage.exists(ARCHIVE_ROOT):
        return 0
    years, _files = default_storage.listdir(ARCHIVE_ROOT)
    for year in sorted(years):
        months, _files = default_storage.listdir(f"{ARCHIVE_ROOT}/{year}")
        for month in sorted(months):
            folder = f"{ARCHIVE_ROOT}/{year}/{month}"
            _dirs, files = default_storage.listdir(folder)
            if not files:
                continue
            known = set(FeedbackReport.objects.filter(file__startswith=f"{folder}/").values_list("file", flat=True))
            for name in files:
                path = f"{folder}/{name}"
                if path in known or now - default_storage.get_modified_time(path) < ORPHAN_MIN_AGE:
                    continue
                default_storage.delete(path)
                deleted += 1
    if deleted:
        logger.info("Feedback: deleted %d archive files no report refers to", deleted)
    return deleted
