"""Reads for deadlines and extensions. Callers get the submitter through portal.access first."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Min, Q, QuerySet
from django.http import Http404

from portal import access
from portal.models import Register, Submitter
from submissions.deadlines import (
    ACCEPTED,
    EffectiveDeadline,
    OnTimeStatus,
    classify_delivery,
    delivery_condition,
    effective_deadline,
    effective_deadline_from,
)
from submissions.models import REGISTER_FLAGS, Deadline, Extension, Submission
from submissions.workdays import OSLO, working_days_between


def applicable_deadlines(submitter: Submitter) -> list[Deadline]:
    """Every calendar deadline that applies to the submitter: its kind is in the deadline's group and it
    reports to the deadline's register. The calendar is a few rows a year, so kinds are matched here
    (SQLite has no JSON containment)."""
    registers = [register for register, flag in REGISTER_FLAGS.items() if getattr(submitter, flag)]
    if not registers:
        return []
    return [
        deadline
        for deadline in Deadline.objects.filter(register__in=registers).order_by("due_date", "register", "id")
        if submitter.kind in deadline.submitter_kinds
    ]


def deadlines_for(submitter: Submitter, year: int) -> list[Deadline]:
    """The deadlines that apply to the submitter for one reporting year (the year the period is in)."""
    return [deadline for deadline in applicable_deadlines(submitter) if deadline.year == year]


def accepted_delivery_at(
    *, submitter: Submitter, deadline: Deadline, due_at: datetime.datetime | None = None
) -> datetime.datetime | None:
    """When the submitter delivered the deadline's period, or None.

    Delivered means: for every message kind the deadline expects, an accepted (accepted or accepted with
    errors), real (not validation-only) message for the register that is a full file covering the period,
    or a change message received from the period's first day up to the effective deadline. Per kind, the
    time is that of the latest such message received by the effective deadline (a later full file replaces
    an earlier one), or else of the first one after it; the period counts as delivered when its last kind
    arrived. `due_at` is the effective deadline; looked up when not given.
    """
    if due_at is None:
        due_at = effective_deadline(submitter=submitter, deadline=deadline).due_at
    rows = (
        Submission.objects.filter(delivery_condition(deadline, due_at), submitter=submitter)
        .filter(kind__in=deadline.message_kinds)
        .values("kind")
        .annotate(
            by_due=Max("received_at", filter=Q(received_at__lte=due_at)),
            after_due=Min("received_at", filter=Q(received_at__gt=due_at)),
        )
        .order_by()
    )
    return _delivered_from({row["kind"]: row["by_due"] or row["after_due"] for row in rows}, deadline.message_kinds)


def delivered_at(
    messages: list[tuple[str, datetime.datetime]], *, kinds: list[str], due_at: datetime.datetime
) -> datetime.datetime | None:
    """`accepted_delivery_at` over delivering messages already fetched as (kind, received_at): per kind the
    latest received by `due_at`, else the first after it; delivered when the last kind arrived."""
    by_due: dict[str, datetime.datetime] = {}
    after_due: dict[str, datetime.datetime] = {}
    for kind, received_at in messages:
        if received_at <= due_at:
            by_due[kind] = max(by_due.get(kind, received_at), received_at)
        else:
            after_due[kind] = min(after_due.get(kind, received_at), received_at)
    return _delivered_from({kind: by_due.get(kind) or after_due.get(kind) for kind in kinds}, kinds)


def _delivered_from(per_kind: dict[str, datetime.datetime | None], kinds: list[str]) -> datetime.datetime | None:
    if any(per_kind.get(kind) is None for kind in kinds):
        return None
    return max(per_kind[kind] for kind in kinds)


@dataclass(frozen=True)
class DeadlineRow:
    """One line of a submitter's deadline page."""

    deadline: Deadline
    effective: EffectiveDeadline
    delivered_at: datetime.datetime | None
    status: OnTimeStatus
    open_request: Extension | None
    now: datetime.datetime

    @property
    def overdue(self) -> bool:
        return self.status == OnTimeStatus.NOT_RECEIVED and self.now > self.effective.due_at


def deadline_rows(
    *, submitter: Submitter, deadlines: list[Deadline], extensions: list[Extension], now: datetime.datetime
) -> list[DeadlineRow]:
    """Effective deadline, delivery and status per deadline; one delivery query per deadline shown."""
    rows = []
    for deadline in deadlines:
        effective = effective_deadline_from(deadline, extensions)
        delivered_at = accepted_delivery_at(submitter=submitter, deadline=deadline, due_at=effective.due_at)
        open_request = next(
            (e for e in extensions if e.deadline_id == deadline.pk and e.status == Extension.Status.OPEN), None
        )
        rows.append(
            DeadlineRow(
                deadline=deadline,
                effective=effective,
                delivered_at=delivered_at,
                status=classify_delivery(
                    calendar_due_at=deadline.due_at, due_at=effective.due_at, delivered_at=delivered_at
                ),
                open_request=open_request,
                now=now,
            )
        )
    return rows


def extension_choices(*, submitter: Submitter, today: datetime.date) -> list[Deadline]:
    """Periods the submitter may ask more time for: deadlines from last year on, without an open request."""
    open_ids = set(
        Extension.objects.filter(submitter=submitter, status=Extension.Status.OPEN).values_list(
            "deadline_id", flat=True
        )
    )
    return [
        deadline
        for deadline in applicable_deadlines(submitter)
        if deadline.pk not in open_ids and deadline.due_date.year >= today.year - 1
    ]


def default_year(deadlines: list[Deadline], today: datetime.date) -> int:
    """The reporting year of the next deadline (in January that is usually last year's annual one)."""
    upcoming = [deadline for deadline in deadlines if deadline.due_date >= today]
    return min(upcoming, key=lambda deadline: deadline.due_date).year if upcoming else today.year


def submitter_extensions(*, submitter: Submitter) -> list[Extension]:
    """All of the submitter's requests, newest first, with who asked and who decided."""
    return list(
        Extension.objects.filter(submitter=submitter)
        .select_related("deadline", "requested_by", "decided_by", "withdrawn_by")
        .order_by("-requested_at", "-id")
    )


def get_own_extension_or_404(submitter: Submitter, extension_id: int) -> Extension:
    """An extension of this submitter (which the caller got through portal.access); others are 404."""
    try:
        return Extension.objects.select_related("submitter", "deadline").get(pk=extension_id, submitter=submitter)
    except Extension.DoesNotExist:
        raise Http404("No such extension.") from None


def extension_queue(*, user: Any, register: str = "", status: str = "") -> QuerySet[Extension]:
    """Registry staff's queue, oldest first; 404 for everyone else."""
    if not access.is_registry_staff(user):
        raise Http404("No such page.")
    extensions = Extension.objects.select_related("submitter", "deadline", "requested_by").order_by(
        "requested_at", "id"
    )
    if register in Register.values:
        extensions = extensions.filter(deadline__register=register)
    if status in Extension.Status.values:
        extensions = extensions.filter(status=status)
    return extensions


def get_extension_for_staff_or_404(user: Any, extension_id: int) -> Extension:
    if not access.is_registry_staff(user):
        raise Http404("No such extension.")
    try:
        return Extension.objects.select_related(
            "submitter", "deadline", "requested_by", "decided_by", "withdrawn_by"
        ).get(pk=extension_id)
    except Extension.DoesNotExist:
        raise Http404("No such extension.") from None


def calendar_for_staff(*, user: Any, year: int | None = None) -> list[Deadline]:
    if not access.is_registry_staff(user):
        raise Http404("No such page.")
    deadlines = Deadline.objects.order_by("-due_date", "register", "id")
    if year:
        deadlines = deadlines.filter(period_start__year=year)
    return list(deadlines)


def get_deadline_for_staff_or_404(user: Any, deadline_id: int) -> Deadline:
    if not access.is_registry_staff(user):
        raise Http404("No such deadline.")
    try:
        return Deadline.objects.get(pk=deadline_id)
    except Deadline.DoesNotExist:
        raise Http404("No such deadline.") from None


# -- daily, change-based reporting ---------------------------------------------------------------


@dataclass(frozen=True)
class DailyReporting:
    """For a change-based reporter: when the last message arrived and how many working days have passed
    without one since (today not counted: the day is not over)."""

    last_message_at: datetime.datetime
    working_days_without_message: int


def daily_reporting(*, submitter: Submitter, today: datetime.date) -> DailyReporting | None:
    """None unless the submitter reports change-based (its most recent real message has mode "change").

    The gap counts from the last accepted message; from the last message of any outcome if none was
    accepted. Weekends and Norwegian public holidays are not working days."""
    real = submitter.submissions.filter(validate_only=False).order_by("-received_at", "-id")
    latest = real.values("mode", "received_at").first()
    if latest is None or latest["mode"] != Submission.Mode.CHANGE:
        return None
    last_accepted = real.filter(status__in=ACCEPTED).values_list("received_at", flat=True).first()
    last = last_accepted or latest["received_at"]
    return DailyReporting(
        last_message_at=last,
        working_days_without_message=working_days_between(last.astimezone(OSLO).date(), today),
    )


def daily_reporting_gap(*, submitter: Submitter, today: datetime.date) -> int | None:
    """Working days without a message for a change-based reporter; None for periodic reporters."""
    reporting = daily_reporting(submitter=submitter, today=today)
    return reporting.working_days_without_message if reporting else None
