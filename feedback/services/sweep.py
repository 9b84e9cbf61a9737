"""The safety net (Celery beat, every few minutes): hand out again the work whose lease ran out.

A worker killed mid-task leaves its claim behind; a task lost with its broker message leaves a PENDING row.
Every task is idempotent, so enqueueing again is safe; the claims decide who does the work.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from feedback.models import EmailDelivery, FeedbackReport, SmsOutbox
from feedback.services import queue
from feedback.sms import get_backend

logger = logging.getLogger(__name__)

SWEEP_LIMIT = 2000


@dataclass
class SweepResult:
    reports: int = 0
    emails: int = 0
    sms: int = 0
    sms_uncertain: int = 0


def sweep(*, now: datetime.datetime | None = None, backend=None) -> SweepResult:
    now = now or timezone.now()
    lease = now + datetime.timedelta(seconds=settings.FEEDBACK_LEASE_SECONDS)
    result = SweepResult()
    expired = Q(lease_until__isnull=True) | Q(lease_until__lt=now)

    report_ids = list(
        FeedbackReport.objects.filter(
            expired, status__in=[FeedbackReport.Status.PENDING, FeedbackReport.Status.PRODUCING]
        )
        .order_by("id")
        .values_list("id", flat=True)[:SWEEP_LIMIT]
    )
    # Pending rows get a new lease (the next sweep waits for it); producing rows keep theirs: the claim
    # in report_produce takes them over because their lease has run out.
    FeedbackReport.objects.filter(pk__in=report_ids, status=FeedbackReport.Status.PENDING).update(lease_until=lease)
    for pk in report_ids:
        queue.send("produce_report", pk)
    result.reports = len(report_ids)

    email_ids = list(
        EmailDelivery.objects.filter(expired, status__in=[EmailDelivery.Status.PENDING, EmailDelivery.Status.SENDING])
        .order_by("id")
        .values_list("id", flat=True)[:SWEEP_LIMIT]
    )
    EmailDelivery.objects.filter(pk__in=email_ids, status=EmailDelivery.Status.PENDING).update(lease_until=lease)
    for pk in email_ids:
        queue.send("send_report_email", pk)
    result.emails = len(email_ids)

    # SMS claimed by a worker that died: send again with the same reference only if the backend delivers a
    # reference once; otherwise nobody can know whether it left, so staff decide (resend).
    stale = SmsOutbox.objects.filter(expired, status=SmsOutbox.Status.SENDING)
    if (backend or get_backend()).deduplicates:
        stale.update(status=SmsOutbox.Status.PENDING, lease_until=None)
    else:
        result.sms_uncertain = stale.update(status=SmsOutbox.Status.UNCERTAIN, lease_until=None)
    sms_ids = list(
        SmsOutbox.objects.filter(expired, status=SmsOutbox.Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)[:SWEEP_LIMIT]
    )
    SmsOutbox.objects.filter(pk__in=sms_ids, status=SmsOutbox.Status.PENDING).update(lease_until=lease)
    for pk in sms_ids:
        queue.send("send_password_sms", pk)
    result.sms = len(sms_ids)
    if result.reports or result.emails or result.sms or result.sms_uncertain:
        logger.info("Feedback sweep: %s", result)
    return result
