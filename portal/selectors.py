"""Reads for the who-reports domain, already scoped through portal.access."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from portal.access import submitters_visible_to
from portal.models import AuditEvent, ContactPerson, Municipality, Register, Submitter


def submitter_list(*, user: Any, query: str = "", kind: str = "", register: str = "") -> QuerySet[Submitter]:
    """The submitters a user may see, filtered by a free-text query, kind and register.

    The query matches a name (contains), an organisation number or HER-id (exact)
    or a municipality number (exact), so that 60,000 rows stay fast.
    """
    submitters = submitters_visible_to(user)
    query = query.strip()
    if query:
        compact = query.replace(" ", "")
        condition = Q(name__icontains=query)
        if compact.isdigit():
            if len(compact) == 9:
                condition |= Q(org_number=compact)
            if len(compact) == 4:
                condition |= Q(municipality_number=compact)
            if len(compact) <= 9:  # HER-ids fit in a 32-bit column
                condition |= Q(her_id=int(compact))
        submitters = submitters.filter(condition)
    if kind in Submitter.Kind.values:
        submitters = submitters.filter(kind=kind)
    if register == Register.NPR:
        submitters = submitters.filter(reports_npr=True)
    elif register == Register.KPR:
        submitters = submitters.filter(reports_kpr=True)
    return submitters.select_related("epj_vendor").order_by("name", "id")


def submitter_contacts(*, submitter: Submitter) -> QuerySet[ContactPerson]:
    return submitter.contacts.order_by("name", "id")


def municipality_name(*, number: str, on: datetime.date) -> str | None:
    municipality = Municipality.objects.valid_on(on).filter(number=number).first()
    return municipality.name if municipality else None


def municipality_is_valid_in_year(*, number: str, year: int) -> bool:
    return Municipality.objects.valid_in_year(year).filter(number=number).exists()


def audit_events(
    *,
    user: str = "",
    kind: str = "",
    submitter: str = "",
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> QuerySet[AuditEvent]:
    """The audit log, newest first, filtered for registry staff's search page. The caller checks that
    the user is registry staff (the log covers every tenant)."""
    events = AuditEvent.objects.all()
    if user.strip():
        events = events.filter(username__icontains=user.strip())
    if kind:
        events = events.filter(kind=kind)
    query = submitter.strip()
    if query:
        compact = query.replace(" ", "")
        matches = Q(name__icontains=query)
        if compact.isdigit() and len(compact) <= 18:
            matches |= Q(org_number=compact) | Q(pk=int(compact))
        events = events.filter(submitter_id__in=Submitter.objects.filter(matches).values("pk"))
    tz = timezone.get_current_timezone()
    if date_from:
        events = events.filter(at__gte=datetime.datetime.combine(date_from, datetime.time.min, tzinfo=tz))
    if date_to:
        end = datetime.datetime.combine(date_to + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)
        events = events.filter(at__lt=end)
    return events.order_by("-at", "-id")
