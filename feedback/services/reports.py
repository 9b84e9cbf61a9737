"""Asking for feedback and producing it: one report row per feedback, claimed before it is produced.

A report is asked for by a received message (the `submission_received` signal), by the daily job the day
after a submitter's effective deadline, or by registry staff. Production is idempotent: the row is claimed
(PENDING → PRODUCING with a lease), the archive is written under a fresh name, and only the claimant that
still holds the claim marks it PRODUCED and plans the deliveries in the same transaction.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from feedback.lib.archives import encrypted_zip_bytes
from feedback.models import EmailDelivery, FeedbackReport, SmsOutbox
from feedback.services import queue
from feedback.services.content import archive_name, build_members
from feedback.services.passwords import month_of, monthly_password_get_or_create
from portal import access
from portal.models import Submitter
from portal.readiness import FeedbackKind, can_open_feedback, routed_contacts
from submissions.deadlines import effective_deadline_from
from submissions.models import REGISTER_FLAGS, Deadline, Extension, MessageKind, Submission

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BULK_BATCH = 2000


def _lease(now: datetime.datetime) -> datetime.datetime:
    """Until when a worker's claim holds."""
    return now + datetime.timedelta(seconds=settings.FEEDBACK_LEASE_SECONDS)


def queued_until(now: datetime.datetime) -> datetime.datetime:
    """Until when queued work waits for its task before the sweep does it."""
    return now + datetime.timedelta(seconds=settings.FEEDBACK_QUEUE_PATIENCE_SECONDS)


def _create_and_enqueue(reports: Sequence[FeedbackReport]) -> list[int]:
    """Insert the reports that do not exist yet (by key) and enqueue production after the commit."""
    now = timezone.now()
    for report in reports:
        report.lease_until = queued_until(now)
    with transaction.atomic():
        for start in range(0, len(reports), BULK_BATCH):
            FeedbackReport.objects.bulk_create(reports[start : start + BULK_BATCH], ignore_conflicts=True)
        ids: list[int] = []
        keys = [report.key for report in reports]
        for start in range(0, len(keys), BULK_BATCH):
            ids += FeedbackReport.objects.filter(
                key__in=keys[start : start + BULK_BATCH], status=FeedbackReport.Status.PENDING
            ).values_list("id", flat=True)
        queue.on_commit_produce(ids)
    return ids


# -- asking for feedback --------------------------------------------------------------------------


def feedback_for_submission(*, submission_id: int) -> list[int]:
    """The feedback a received message gets: VAL when it was rejected, ERR when records had errors, and the
    identity check for an ident message. Asking twice (a replayed signal) changes nothing."""
    submission = (
        Submission.objects.filter(pk=submission_id)
        .only("id", "submitter_id", "register", "kind", "status", "period_start")
        .first()
    )
    if submission is None:
        return []
    kinds = []
    if submission.status == Submission.Status.REJECTED:
        kinds.append(FeedbackKind.SCHEMA_VALIDATION)
    elif submission.status == Submission.Status.ACCEPTED_WITH_ERRORS:
        kinds.append(FeedbackKind.CONTENT_VALIDATION)
    if submission.kind == MessageKind.IDENT and submission.status != Submission.Status.REJECTED:
        kinds.append(FeedbackKind.IDENT)
    reports = [
        FeedbackReport(
            submitter_id=submission.submitter_id,
            kind=kind,
            register=submission.register,
            year=submission.period_start.year if submission.period_start else None,
            submission_id=submission.pk,
            trigger=FeedbackReport.Trigger.SUBMISSION,
            key=f"{kind}:submission:{submission.pk}",
        )
        for kind in kinds
    ]
    return _create_and_enqueue(reports) if reports else []


def activity_request(*, user, submitter: Submitter, register: str, year: int) -> FeedbackReport:
    """Registry staff ask for an activity workbook now (e.g. after a resubmission)."""
    if not access.is_registry_staff(user):
        raise PermissionDenied("Only registry staff order activity feedback.")
    if register not in submitter.registers:
        raise ValueError(f"{submitter} does not report to {register}")
    report = FeedbackReport(
        submitter=submitter,
        kind=FeedbackKind.ACTIVITY,
        register=register,
        year=year,
        period_start=datetime.date(year, 1, 1),
        period_end=datetime.date(year, 12, 31),
        trigger=FeedbackReport.Trigger.STAFF,
        requested_by=user,
        key=f"activity:staff:{uuid.uuid4().hex}",
    )
    _create_and_enqueue([report])
    return FeedbackReport.objects.get(key=report.key)


def activity_due(*, today: datetime.date) -> int:
    """The daily job: activity feedback for every submitter whose effective deadline (the calendar's, or
    the latest granted extension's) was yesterday. Returns the number of reports asked for."""
    yesterday = today - datetime.timedelta(days=1)
    extended_yesterday = Extension.objects.filter(
        deadline=OuterRef("pk"), status=Extension.Status.GRANTED, granted_date=yesterday
    )
    asked = 0
    for deadline in Deadline.objects.filter(Q(due_date=yesterday) | Q(Exists(extended_yesterday))):
        extensions: dict[int, list[Extension]] = defaultdict(list)
        for extension in Extension.objects.filter(deadline=deadline, status=Extension.Status.GRANTED):
            extensions[extension.submitter_id].append(extension)
        if deadline.due_date == yesterday:
            candidates: Iterable[int] = Submitter.objects.filter(
                kind__in=deadline.submitter_kinds, **{REGISTER_FLAGS[deadline.register]: True}
            ).values_list("id", flat=True)
        else:
            candidates = list(extensions)
        due = [
            submitter_id
            for submitter_id in candidates
            if effective_deadline_from(deadline, extensions.get(submitter_id, [])).date == yesterday
        ]
        reports = [
            FeedbackReport(
                submitter_id=submitter_id,
                kind=FeedbackKind.ACTIVITY,
                register=deadline.register,
                year=deadline.year,
                period_start=deadline.period_start,
                period_end=deadline.period_end,
                trigger=FeedbackReport.Trigger.DEADLINE,
                key=f"activity:deadline:{deadline.pk}:{submitter_id}",
            )
            for submitter_id in due
        ]
        _create_and_enqueue(reports)
        asked += len(reports)
        logger.info("Activity feedback after deadline %s: %d submitters", deadline.pk, len(reports))
    return asked


# -- producing -----------------------------------------------------------------------------------


class _LostClaim(Exception):
    pass


def report_produce(*, report_id: int, now: datetime.datetime | None = None) -> bool:
    """Produce the archive of one report, once. Returns True if this call produced it."""
    now = now or timezone.now()
    claim = uuid.uuid4()
    claimable = Q(status=FeedbackReport.Status.PENDING) | Q(status=FeedbackReport.Status.PRODUCING, lease_until__lt=now)
    claimed = FeedbackReport.objects.filter(claimable, pk=report_id, attempts__lt=MAX_ATTEMPTS).update(
        status=FeedbackReport.Status.PRODUCING, claim=claim, lease_until=_lease(now), attempts=F("attempts") + 1
    )
    if claimed != 1:
        return False
    report = FeedbackReport.objects.select_related("submitter", "submission").get(pk=report_id)
    stored_name = ""
    try:
        month = month_of(now)
        _, password = monthly_password_get_or_create(submitter_id=report.submitter_id, month=month)
        data = encrypted_zip_bytes(build_members(report, now=now), password)
        del password
        file_name = archive_name(report)
        stored_name = default_storage.save(f"feedback/{month:%Y/%m}/{report.pk}-{file_name}", ContentFile(data))
        with transaction.atomic():
            done = FeedbackReport.objects.filter(
                pk=report_id, claim=claim, status=FeedbackReport.Status.PRODUCING
            ).update(
                status=FeedbackReport.Status.PRODUCED,
                file=stored_name,
                file_name=file_name,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                produced_at=now,
                password_month=month,
                lease_until=None,
                error="",
            )
            if done != 1:
                raise _LostClaim
            _plan_deliveries(report, month, now)
    except _LostClaim:
        # Our lease ran out and another worker took over: its archive counts, ours goes.
        default_storage.delete(stored_name)
        return False
    except BaseException as error:
        if stored_name:
            default_storage.delete(stored_name)
        _release_after_failure(report_id, claim, error, now)
        raise
    return True


def _release_after_failure(report_id: int, claim: uuid.UUID, error: BaseException, now: datetime.datetime) -> None:
    report = FeedbackReport.objects.filter(pk=report_id).only("attempts").first()
    if report is None:
        return
    failed = report.attempts >= MAX_ATTEMPTS
    backoff = datetime.timedelta(seconds=min(3600, 30 * 2**report.attempts))
    FeedbackReport.objects.filter(pk=report_id, claim=claim, status=FeedbackReport.Status.PRODUCING).update(
        status=FeedbackReport.Status.FAILED if failed else FeedbackReport.Status.PENDING,
        lease_until=None if failed else now + backoff,
        error=f"{type(error).__name__}: {error}"[:1000],
    )
    logger.warning("Feedback report %s failed (attempt %s): %s", report_id, report.attempts, type(error).__name__)


def _plan_deliveries(report: FeedbackReport, month: datetime.date, now: datetime.datetime) -> None:
    """Inside the transaction that marks the report produced: an e-mail row per routed contact with an
    address, and the month's SMS row for each routed contact who can open it (once per contact and month)."""
    contacts = routed_contacts(report.submitter, report.kind, report.submitter.contacts.all())
    lease = queued_until(now)
    emails = [
        EmailDelivery(report_id=report.pk, contact=c, contact_name=c.name, email=c.email, lease_until=lease)
        for c in contacts
        if c.email
    ]
    EmailDelivery.objects.bulk_create(emails, ignore_conflicts=True)
    sms = [
        SmsOutbox(
            submitter_id=report.submitter_id,
            contact=c,
            month=month,
            round=0,
            contact_name=c.name,
            mobile=c.mobile,
            lease_until=lease,
        )
        for c in contacts
        if can_open_feedback(c)
    ]
    SmsOutbox.objects.bulk_create(sms, ignore_conflicts=True)
    email_ids = list(
        EmailDelivery.objects.filter(report_id=report.pk, status=EmailDelivery.Status.PENDING).values_list(
            "id", flat=True
        )
    )
    sms_ids = list(
        SmsOutbox.objects.filter(
            contact_id__in=[c.pk for c in contacts], month=month, round=0, status=SmsOutbox.Status.PENDING
        ).values_list("id", flat=True)
    )
    queue.on_commit_deliver(email_ids=email_ids, sms_ids=sms_ids)
