"""Deadlines: the effective deadline, on-time status, extension requests and decisions, reminders.

Everything that says "on time" (the daily view, the overview, reminders, feedback) asks this module:
`effective_deadline()` gives a submitter's deadline for a period (the calendar's, or the latest granted
extension's), `on_time_status()` compares a delivery time with it. Writes are keyword-only services.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, models, transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal import access
from portal.models import ContactPerson, ContactType, Submitter
from submissions.models import REGISTER_FLAGS, Deadline, DeadlineReminder, Extension, Submission
from submissions.workdays import OSLO, end_of_day_oslo, start_of_day_oslo

logger = logging.getLogger(__name__)

ACCEPTED = (Submission.Status.ACCEPTED, Submission.Status.ACCEPTED_WITH_ERRORS)
REMINDER_BATCH = 500
REMINDER_MAX_ATTEMPTS = 3


# -- effective deadline and on-time status ------------------------------------------------------


@dataclass(frozen=True)
class EffectiveDeadline:
    """A submitter's deadline for one period: the calendar's date, or a granted extension's."""

    deadline: Deadline
    date: datetime.date
    extension: Extension | None = None

    @property
    def due_at(self) -> datetime.datetime:
        """End of the day in Oslo, as an aware datetime."""
        return end_of_day_oslo(self.date)

    @property
    def is_extended(self) -> bool:
        return self.extension is not None


def effective_deadline_from(deadline: Deadline, extensions: Iterable[Extension]) -> EffectiveDeadline:
    """Pure: the effective deadline given the submitter's extensions (any deadline, any status)."""
    granted = [
        extension
        for extension in extensions
        if extension.deadline_id == deadline.pk
        and extension.status == Extension.Status.GRANTED
        and extension.granted_date is not None
    ]
    if not granted:
        return EffectiveDeadline(deadline=deadline, date=deadline.due_date)
    latest = max(granted, key=lambda extension: (extension.granted_date, extension.decided_at or extension.pk))
    return EffectiveDeadline(deadline=deadline, date=latest.granted_date, extension=latest)


def effective_deadline(*, submitter: Submitter, deadline: Deadline) -> EffectiveDeadline:
    extensions = Extension.objects.filter(submitter=submitter, deadline=deadline, status=Extension.Status.GRANTED)
    return effective_deadline_from(deadline, extensions)


def extended_dates(*, deadline: Deadline, submitter_ids: Iterable[int] | None = None) -> dict[int, datetime.date]:
    """Bulk, for overviews: submitter id → extended date, for the submitters with a granted extension."""
    extensions = Extension.objects.filter(deadline=deadline, status=Extension.Status.GRANTED)
    if submitter_ids is not None:
        extensions = extensions.filter(submitter_id__in=list(submitter_ids))
    rows = extensions.values("submitter_id").annotate(latest=Max("granted_date")).order_by()
    return {row["submitter_id"]: row["latest"] for row in rows}


class OnTimeStatus(models.TextChoices):
    ON_TIME = "on_time", gettext_lazy("On time")
    ON_TIME_WITH_EXTENSION = "on_time_with_extension", gettext_lazy("On time with extension")
    LATE = "late", gettext_lazy("Late")
    NOT_RECEIVED = "not_received", gettext_lazy("Not received")


def classify_delivery(
    *, calendar_due_at: datetime.datetime, due_at: datetime.datetime, delivered_at: datetime.datetime | None
) -> OnTimeStatus:
    """Pure. Delivered after the calendar's deadline but by an extended one is "on time with extension"."""
    if delivered_at is None:
        return OnTimeStatus.NOT_RECEIVED
    if delivered_at <= calendar_due_at:
        return OnTimeStatus.ON_TIME
    if delivered_at <= due_at:
        return OnTimeStatus.ON_TIME_WITH_EXTENSION
    return OnTimeStatus.LATE


def on_time_status(
    *,
    submitter: Submitter,
    deadline: Deadline,
    delivered_at: datetime.datetime | None,
    effective: EffectiveDeadline | None = None,
) -> OnTimeStatus:
    """on_time / on_time_with_extension / late / not_received. Pass `effective` (e.g. from
    `effective_deadline_from`) to avoid the query for the submitter's extensions."""
    if effective is None:
        effective = effective_deadline(submitter=submitter, deadline=deadline)
    return classify_delivery(calendar_due_at=deadline.due_at, due_at=effective.due_at, delivered_at=delivered_at)


def delivery_condition(deadline: Deadline, due_at: datetime.datetime) -> Q:
    """Accepted, real (not validation-only) messages for the deadline's register that deliver its period:
    a full file whose period covers the deadline's period, or a change message received from the first
    day of the period up to the effective deadline."""
    covers = Q(
        mode=Submission.Mode.FULL,
        period_start__lte=deadline.period_start,
        period_end__gte=deadline.period_end,
    )
    changes = Q(
        mode=Submission.Mode.CHANGE,
        received_at__gte=start_of_day_oslo(deadline.period_start),
        received_at__lte=due_at,
    )
    return Q(register=deadline.register, status__in=ACCEPTED, validate_only=False) & (covers | changes)


def delivered_condition(deadline: Deadline, due_at: datetime.datetime, *, submitter_ref: Any = None) -> Q:
    """For querying submitters in bulk: every expected message kind has been delivered."""
    submitter_ref = submitter_ref if submitter_ref is not None else OuterRef("pk")
    condition = Q()
    for kind in deadline.message_kinds:
        condition &= Q(
            Exists(
                Submission.objects.filter(delivery_condition(deadline, due_at), submitter_id=submitter_ref, kind=kind)
            )
        )
    return condition


# -- extensions ---------------------------------------------------------------------------------


@transaction.atomic
def extension_apply(
    *,
    user: Any,
    submitter: Submitter,
    deadline: Deadline,
    requested_date: datetime.date,
    justification: str,
    now: datetime.datetime | None = None,
) -> Extension:
    """A member asks for a later deadline for one period. Allowed (and flagged) after the deadline."""
    if not access.can_apply_for_extension(user, submitter):
        raise PermissionDenied("Only people who act for the submitter may apply for an extension.")
    now = now or timezone.now()
    if not deadline.applies_to(submitter):
        raise ValidationError({"deadline": _("This deadline does not apply to %(name)s.") % {"name": submitter}})
    justification = (justification or "").strip()
    current = effective_deadline(submitter=submitter, deadline=deadline)
    errors: dict[str, str] = {}
    if not justification:
        errors["justification"] = _("Explain why you need more time.")
    if requested_date <= current.date:
        errors["requested_date"] = _("Ask for a date after the current deadline, %(date)s.") % {
            "date": _date(current.date)
        }
    elif requested_date < now.astimezone(OSLO).date():
        errors["requested_date"] = _("The new deadline cannot be in the past.")
    if errors:
        raise ValidationError(errors)
    if Extension.objects.filter(submitter=submitter, deadline=deadline, status=Extension.Status.OPEN).exists():
        raise ValidationError(_one_open_message())
    extension = Extension(
        submitter=submitter,
        deadline=deadline,
        previous_date=current.date,
        requested_date=requested_date,
        justification=justification,
        applied_late=now > current.due_at,
        requested_by=user,
        requested_at=now,
    )
    try:
        with transaction.atomic():
            extension.save()
    except IntegrityError:
        # Two requests at once: the partial unique constraint lets one through.
        raise ValidationError(_one_open_message()) from None
    return extension


def _one_open_message() -> str:
    return _("There is already an open request for this period. Withdraw it or wait for the decision.")


def _date(day: datetime.date) -> str:
    return date_format(day, "DATE_FORMAT")


@transaction.atomic
def extension_decide(
    *,
    user: Any,
    extension: Extension,
    grant: bool,
    granted_date: datetime.date | None = None,
    reason: str = "",
) -> Extension:
    """Registry staff grant (possibly with another date) or refuse (with a reason) an open request.
    The decision is e-mailed to the submitter's type-1 contacts after the commit."""
    if not access.is_registry_staff(user):
        raise PermissionDenied("Only registry staff decide on extensions.")
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if grant:
        granted_date = granted_date or extension.requested_date
        if granted_date <= extension.previous_date:
            errors["granted_date"] = _("The new deadline must be after the old one, %(date)s.") % {
                "date": _date(extension.previous_date)
            }
    else:
        granted_date = None
        if not reason:
            errors["reason"] = _("Give the reason for the refusal; the submitter sees it.")
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    # Claim the open row: a withdrawal or another decision at the same moment makes this a no-op.
    updated = Extension.objects.filter(pk=extension.pk, status=Extension.Status.OPEN).update(
        status=Extension.Status.GRANTED if grant else Extension.Status.REFUSED,
        granted_date=granted_date,
        decision_reason=reason,
        decided_by=user,
        decided_at=now,
    )
    if updated != 1:
        raise ValidationError(_("This request is no longer open: it has been decided or withdrawn."))
    extension.refresh_from_db()
    from submissions.tasks import send_extension_decision

    transaction.on_commit(partial(send_extension_decision.delay, extension.pk))
    return extension


@transaction.atomic
def extension_withdraw(*, user: Any, extension: Extension) -> Extension:
    """The submitter withdraws its own request while it is open. The row is kept."""
    if not access.can_apply_for_extension(user, extension.submitter):
        raise PermissionDenied("Only people who act for the submitter may withdraw its request.")
    updated = Extension.objects.filter(pk=extension.pk, status=Extension.Status.OPEN).update(
        status=Extension.Status.WITHDRAWN, withdrawn_by=user, withdrawn_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError(_("This request is no longer open: it has been decided or withdrawn."))
    extension.refresh_from_db()
    return extension


def _technical_contact_emails(submitter_ids: Sequence[int]) -> dict[int, list[str]]:
    """Type-1 contacts' addresses per submitter, in one query (contact types are a JSON list, filtered here
    because SQLite has no JSON containment)."""
    emails: dict[int, list[str]] = defaultdict(list)
    rows = (
        ContactPerson.objects.filter(submitter_id__in=submitter_ids)
        .exclude(email="")
        .order_by("submitter_id", "name", "id")
        .values_list("submitter_id", "email", "contact_types")
    )
    for submitter_id, email, types in rows:
        if ContactType.TECHNICAL in types and email not in emails[submitter_id]:
            emails[submitter_id].append(email)
    return emails


def extension_decision_mail(*, extension_id: int) -> int:
    """E-mail a decision to the submitter's type-1 contacts, once. Returns the number of recipients."""
    claimed = Extension.objects.filter(
        pk=extension_id,
        status__in=[Extension.Status.GRANTED, Extension.Status.REFUSED],
        decision_mailed_at__isnull=True,
    ).update(decision_mailed_at=timezone.now())
    if claimed != 1:
        return 0
    extension = Extension.objects.select_related("submitter", "deadline").get(pk=extension_id)
    recipients = _technical_contact_emails([extension.submitter_id]).get(extension.submitter_id, [])
    if not recipients:
        logger.warning("Extension %s: no type-1 contact with an e-mail address; decision not mailed", extension_id)
        return 0
    context = {
        "extension": extension,
        "submitter": extension.submitter,
        "deadline": extension.deadline,
        "granted": extension.status == Extension.Status.GRANTED,
        "old_due_at": end_of_day_oslo(extension.previous_date),
        "new_due_at": end_of_day_oslo(extension.granted_date) if extension.granted_date else None,
    }
    with translation.override(settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string("submissions/email/extension_decision_subject.txt", context).split())
        body = render_to_string("submissions/email/extension_decision_body.txt", context)
    try:
        EmailMessage(subject=subject, body=body, to=recipients).send()
    except Exception:
        # Give the claim back so that the task's retry can send it.
        Extension.objects.filter(pk=extension_id).update(decision_mailed_at=None)
        raise
    return len(recipients)


# -- reminders ----------------------------------------------------------------------------------


@dataclass
class ReminderRun:
    claimed: int = 0
    sent: int = 0
    without_recipient: int = 0
    failed: int = 0


def _reminder_targets(*, today: datetime.date, days: Iterable[int]):
    """(deadline, days_before, due date, submitter queryset) for every effective deadline `days` ahead."""
    for days_before in sorted(set(days)):
        due = today + datetime.timedelta(days=days_before)
        # Calendar deadlines due that day, for submitters whose deadline was not extended.
        for deadline in Deadline.objects.filter(due_date=due):
            submitters = Submitter.objects.filter(
                kind__in=deadline.submitter_kinds, **{REGISTER_FLAGS[deadline.register]: True}
            ).exclude(
                Exists(
                    Extension.objects.filter(
                        deadline=deadline, submitter_id=OuterRef("pk"), status=Extension.Status.GRANTED
                    )
                )
            )
            yield deadline, days_before, due, submitters
        # Extended deadlines that end that day (the latest grant counts).
        extended: dict[int, list[int]] = defaultdict(list)
        rows = (
            Extension.objects.filter(status=Extension.Status.GRANTED)
            .values("deadline_id", "submitter_id")
            .annotate(latest=Max("granted_date"))
            .filter(latest=due)
            .order_by()
        )
        for row in rows:
            extended[row["deadline_id"]].append(row["submitter_id"])
        for deadline in Deadline.objects.filter(pk__in=list(extended)):
            yield deadline, days_before, due, Submitter.objects.filter(pk__in=extended[deadline.pk])


def _reminders_claim(*, today: datetime.date, days: Iterable[int], claim: uuid.UUID) -> int:
    """Write a ledger row for every submitter to remind today, in bulk. Rows that exist (an earlier run
    today) are skipped by the unique key, so only this run's rows carry its claim."""
    now = timezone.now()
    claimed = 0
    for deadline, days_before, due, submitters in _reminder_targets(today=today, days=days):
        pending = submitters.exclude(delivered_condition(deadline, end_of_day_oslo(due)))
        # Rows an earlier run wrote today are left out in Python: right after a bulk insert the planner's
        # statistics still say the ledger is empty, and an anti-join chosen on that basis is quadratic.
        reminded = set(
            DeadlineReminder.objects.filter(deadline=deadline, remind_on=today).values_list("submitter_id", flat=True)
        )
        ids = [pk for pk in pending.order_by().values_list("pk", flat=True) if pk not in reminded]
        rows = [
            DeadlineReminder(
                deadline=deadline,
                submitter_id=submitter_id,
                remind_on=today,
                days_before=days_before,
                due_date=due,
                claim=claim,
                claimed_at=now,
            )
            for submitter_id in ids
        ]
        DeadlineReminder.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
        claimed += len(ids)
    return claimed


def reminders_send(*, today: datetime.date, days: Sequence[int] | None = None) -> ReminderRun:
    """The daily reminder job: e-mail the type-1 contacts of submitters that have not delivered, N days
    before each effective deadline (settings.DEADLINE_REMINDER_DAYS). Once per deadline, submitter and
    day, however often it runs: the ledger row is claimed before the e-mail is sent. Failed e-mails
    are retried by later runs until the deadline, at most REMINDER_MAX_ATTEMPTS times."""
    days = list(settings.DEADLINE_REMINDER_DAYS if days is None else days)
    claim = uuid.uuid4()
    _reminders_claim(today=today, days=days, claim=claim)
    DeadlineReminder.objects.filter(
        status=DeadlineReminder.Status.FAILED, attempts__lt=REMINDER_MAX_ATTEMPTS, due_date__gte=today
    ).update(status=DeadlineReminder.Status.PENDING, claim=claim, claimed_at=timezone.now())
    run = ReminderRun()
    ids = list(
        DeadlineReminder.objects.filter(claim=claim, status=DeadlineReminder.Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )
    run.claimed = len(ids)
    cache: dict[tuple, tuple[str, str]] = {}
    for start in range(0, len(ids), REMINDER_BATCH):
        _reminders_deliver(ids[start : start + REMINDER_BATCH], run, cache)
    logger.info(
        "Deadline reminders %s: %d claimed, %d sent, %d without recipient, %d failed",
        today,
        run.claimed,
        run.sent,
        run.without_recipient,
        run.failed,
    )
    return run


# Stands for the submitter's name while a reminder is rendered once per deadline and day.
_NAME_SLOT = "\x00submitter-name\x00"


def _reminder_text(reminder: DeadlineReminder, cache: dict[tuple, tuple[str, str]]) -> tuple[str, str]:
    """Subject and body; the templates are rendered once per deadline, due date and day count (the only
    difference between submitters is the name), which matters with tens of thousands of reminders."""
    key = (reminder.deadline_id, reminder.due_date, reminder.days_before)
    if key not in cache:
        context = {
            "submitter": {"name": _NAME_SLOT},
            "deadline": reminder.deadline,
            "due_at": end_of_day_oslo(reminder.due_date),
            "days_before": reminder.days_before,
        }
        subject = " ".join(render_to_string("submissions/email/reminder_subject.txt", context).split())
        cache[key] = (subject, render_to_string("submissions/email/reminder_body.txt", context))
    subject, body = cache[key]
    name = reminder.submitter.name
    return subject.replace(_NAME_SLOT, name), body.replace(_NAME_SLOT, name)


def _reminders_record(outcomes: dict[tuple[str, int, str], list[int]], now: datetime.datetime) -> None:
    """One UPDATE per outcome (status, recipient count, error) rather than a row-by-row CASE."""
    for (status, recipient_count, error), ids in outcomes.items():
        DeadlineReminder.objects.filter(pk__in=ids).update(
            status=status,
            attempts=F("attempts") + 1,
            recipient_count=recipient_count,
            sent_at=now if status == DeadlineReminder.Status.SENT else None,
            error=error,
        )


def _reminders_deliver(ids: Sequence[int], run: ReminderRun, cache: dict[tuple, tuple[str, str]]) -> None:
    reminders = list(
        DeadlineReminder.objects.filter(pk__in=ids)
        .select_related("deadline", "submitter")
        .only("id", "deadline", "due_date", "days_before", "submitter_id", "submitter__name")
    )
    emails = _technical_contact_emails([reminder.submitter_id for reminder in reminders])
    outcomes: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    now = timezone.now()
    connection = get_connection()
    try:
        connection.open()  # one connection for the batch
    except Exception as error:  # recorded on the rows; a later run retries them
        message = f"{type(error).__name__}: {error}"[:1000]
        outcomes[(DeadlineReminder.Status.FAILED, 0, message)] = [reminder.pk for reminder in reminders]
        run.failed += len(reminders)
        logger.warning("Deadline reminders: no mail connection: %s", error)
        _reminders_record(outcomes, now)
        return
    try:
        with translation.override(settings.LANGUAGE_CODE):
            for reminder in reminders:
                recipients = emails.get(reminder.submitter_id, [])
                if not recipients:
                    outcomes[(DeadlineReminder.Status.NO_RECIPIENT, 0, "")].append(reminder.pk)
                    run.without_recipient += 1
                    continue
                subject, body = _reminder_text(reminder, cache)
                try:
                    EmailMessage(subject=subject, body=body, to=recipients, connection=connection).send()
                except Exception as error:  # recorded on the row; a later run retries it
                    message = f"{type(error).__name__}: {error}"[:1000]
                    outcomes[(DeadlineReminder.Status.FAILED, len(recipients), message)].append(reminder.pk)
                    run.failed += 1
                    logger.warning("Deadline reminder %s failed: %s", reminder.pk, message)
                else:
                    outcomes[(DeadlineReminder.Status.SENT, len(recipients), "")].append(reminder.pk)
                    run.sent += 1
    finally:
        connection.close()
        _reminders_record(outcomes, now)


# -- the calendar (registry staff) ---------------------------------------------------------------


def _deadline_save(deadline: Deadline, fields: dict[str, Any]) -> Deadline:
    for name, value in fields.items():
        setattr(deadline, name, value)
    deadline.submitter_kinds = sorted(set(deadline.submitter_kinds))
    deadline.message_kinds = sorted(set(deadline.message_kinds))
    deadline.full_clean()
    deadline.save()
    return deadline


@transaction.atomic
def deadline_create(
    *,
    user: Any,
    register: str,
    submitter_kinds: Sequence[str],
    period_start: datetime.date,
    period_end: datetime.date,
    due_date: datetime.date,
    cumulative: bool,
    message_kinds: Sequence[str],
) -> Deadline:
    if not access.is_registry_staff(user):
        raise PermissionDenied("Only registry staff edit the calendar.")
    return _deadline_save(
        Deadline(),
        {
            "register": register,
            "submitter_kinds": list(submitter_kinds),
            "period_start": period_start,
            "period_end": period_end,
            "due_date": due_date,
            "cumulative": cumulative,
            "message_kinds": list(message_kinds),
        },
    )


@transaction.atomic
def deadline_update(*, user: Any, deadline: Deadline, **fields: Any) -> Deadline:
    """Change a calendar row. Extensions keep the old deadline they were decided against."""
    if not access.is_registry_staff(user):
        raise PermissionDenied("Only registry staff edit the calendar.")
    allowed = {"register", "submitter_kinds", "period_start", "period_end", "due_date", "cumulative", "message_kinds"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"Unknown fields: {', '.join(sorted(unknown))}")
    return _deadline_save(deadline, {name: list(v) if name.endswith("_kinds") else v for name, v in fields.items()})


__all__ = [
    "EffectiveDeadline",
    "OnTimeStatus",
    "ReminderRun",
    "classify_delivery",
    "deadline_create",
    "deadline_update",
    "delivered_condition",
    "delivery_condition",
    "effective_deadline",
    "effective_deadline_from",
    "extended_dates",
    "extension_apply",
    "extension_decide",
    "extension_decision_mail",
    "extension_withdraw",
    "on_time_status",
    "reminders_send",
]
