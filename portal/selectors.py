"""Reads for the who-reports domain, already scoped through portal.access."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Q, QuerySet

from portal.access import submitters_visible_to
from portal.models import ContactPerson, Municipality, Register, Submitter


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
