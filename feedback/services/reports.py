"""Asking for feedback and producing it: one report row per feedback, claimed before it is produced.

A report is asked for by a received message (the `submission_received` signal), by the daily job the day
after a submitter's effective deadline, or by registry staff. Production is idempotent: the row is claimed
(PENDING → PRODUCING with a lease), the archive is written under a fresh name, and only the claimant that
still holds the claim marks it PRODUCED and plans the deliveries in the same transaction.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from feedback.lib.archives import encrypted_zip_bytes
from feedback.models import EmailDelivery, FeedbackReport, SmsOutbox
from feedback.services import queue
from feedback.services.content import archive_name, build_members
from feedback.services.passwords import month_of, monthly_password_get_or_create, monthly_passwords_get_or_create
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
            _plan_deliveries([report], month, now)
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


# What a chunk may take before what is made is marked and the rest handed on (never more than half the
# lease, so that no claim of the chunk runs out while the worker is alive).
CHUNK_BUDGET_SECONDS = 60.0
_PRODUCED_FIELDS = [
    "status",
    "file",
    "file_name",
    "size",
    "sha256",
    "produced_at",
    "password_month",
    "lease_until",
    "error",
]


def reports_produce(*, report_ids: Sequence[int], now: datetime.datetime | None = None) -> list[int]:
    """Produce the archives of several reports in one go (the daily job's fan-out sends them in chunks),
    each exactly once, as report_produce does one: the claim is one statement for the chunk, the monthly
    passwords one read, and marking the archives produced with their deliveries one transaction. A report
    that fails is released on its own (the others go on); one that another worker holds is left to it. A
    chunk that runs past its time budget marks what it made, and releases and enqueues the rest again.
    Returns the ids this call produced."""
    now = now or timezone.now()
    started = time.monotonic()
    budget = min(CHUNK_BUDGET_SECONDS, settings.FEEDBACK_LEASE_SECONDS / 2)
    claim = uuid.uuid4()
    ids = list(dict.fromkeys(report_ids))
    claimable = Q(status=FeedbackReport.Status.PENDING) | Q(status=FeedbackReport.Status.PRODUCING, lease_until__lt=now)
    claimed = FeedbackReport.objects.filter(claimable, pk__in=ids, attempts__lt=MAX_ATTEMPTS).update(
        status=FeedbackReport.Status.PRODUCING, claim=claim, lease_until=_lease(now), attempts=F("attempts") + 1
    )
    if not claimed:
        return []
    pending = list(
        FeedbackReport.objects.filter(pk__in=ids, claim=claim)
        .select_related("submitter", "submission")
        .prefetch_related("submitter__contacts")
        .order_by("-id")
    )
    month = month_of(now)
    made: list[FeedbackReport] = []
    try:
        passwords = monthly_passwords_get_or_create(submitter_ids={r.submitter_id for r in pending}, month=month)
        while pending and not (made and time.monotonic() - started > budget):
            report = pending.pop()
            try:
                data = encrypted_zip_bytes(build_members(report, now=now), passwords[report.submitter_id])
                file_name = archive_name(report)
                stored_name = default_storage.save(f"feedback/{month:%Y/%m}/{report.pk}-{file_name}", ContentFile(data))
            except DatabaseError:
                raise
            except Exception as error:
                # This report's own problem (its data, its file): recorded on it; the chunk goes on.
                _release_after_failure(report.pk, claim, error, now)
                continue
            report.status = FeedbackReport.Status.PRODUCED
            report.file = stored_name
            report.file_name = file_name
            report.size = len(data)
            report.sha256 = hashlib.sha256(data).hexdigest()
            report.produced_at = now
            report.password_month = month
            report.lease_until = None
            report.error = ""
            made.append(report)
        del passwords
        produced = _mark_produced(made, claim, month, now)
    except BaseException as error:
        for report in made:
            default_storage.delete(report.file.name)
        for report in [*made, *pending]:
            with contextlib.suppress(DatabaseError):
                _release_after_failure(report.pk, claim, error, now)
        raise
    if pending:
        # Out of time: the rest goes back to the queue as it was, the attempt not counted.
        rest = sorted(report.pk for report in pending)
        FeedbackReport.objects.filter(pk__in=rest, claim=claim, status=FeedbackReport.Status.PRODUCING).update(
            status=FeedbackReport.Status.PENDING,
            lease_until=queued_until(now),
            attempts=F("attempts") - 1,
        )
        queue.on_commit_produce(rest)
    return produced


def _mark_produced(
    made: Sequence[FeedbackReport], claim: uuid.UUID, month: datetime.date, now: datetime.datetime
) -> list[int]:
    """Mark the archives produced and plan their deliveries, in one transaction, for the reports this claim
    still holds; the archives of those another worker took over (our lease ran out) are deleted."""
    if not made:
        return []
    lost: list[FeedbackReport] = []
    with transaction.atomic():
        held = FeedbackReport.objects.filter(claim=claim, status=FeedbackReport.Status.PRODUCING)
        kept = list(made)
        if held.bulk_update(made, _PRODUCED_FIELDS) != len(made):
            ours = set(
                FeedbackReport.objects.filter(
                    pk__in=[report.pk for report in made], claim=claim, status=FeedbackReport.Status.PRODUCED
                ).values_list("pk", flat=True)
            )
            kept = [report for report in made if report.pk in ours]
            lost = [report for report in made if report.pk not in ours]
        _plan_deliveries(kept, month, now)
    for report in lost:
        # Committed: nothing after this may reach the caller's cleanup, which deletes the chunk's archives.
        # A file left behind is only disk space.
        with contextlib.suppress(Exception):
            default_storage.delete(report.file.name)
    return [report.pk for report in kept]


def _plan_deliveries(reports: Sequence[FeedbackReport], month: datetime.date, now: datetime.datetime) -> None:
    """Inside the transaction that marks the reports produced: an e-mail row per routed contact with an
    address, and the month's SMS row for each routed contact who can open it (once per contact and month)."""
    lease = queued_until(now)
    emails: list[EmailDelivery] = []
    sms: list[SmsOutbox] = []
    routed: set[int] = set()
    for report in reports:
        contacts = routed_contacts(report.submitter, report.kind, report.submitter.contacts.all())
        routed.update(c.pk for c in contacts)
        emails += [
            EmailDelivery(report_id=report.pk, contact=c, contact_name=c.name, email=c.email, lease_until=lease)
            for c in contacts
            if c.email
        ]
        sms += [
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
    email_ids: list[int] = []
    sms_ids: list[int] = []
    if emails:
        EmailDelivery.objects.bulk_create(emails, ignore_conflicts=True)
        email_ids = list(
            EmailDelivery.objects.filter(
                report_id__in=[report.pk for report in reports], status=EmailDelivery.Status.PENDING
            ).values_list("id", flat=True)
        )
    if sms:
        SmsOutbox.objects.bulk_create(sms, ignore_conflicts=True)
    if routed:
        sms_ids = list(
            SmsOutbox.objects.filter(
                contact_id__in=routed, month=month, round=0, status=SmsOutbox.Status.PENDING
            ).values_list("id", flat=True)
        )
    queue.on_commit_deliver(email_ids=email_ids, sms_ids=sms_ids)
