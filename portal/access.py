"""The one place that decides which submitters a user may see.

Every read of submitter data goes through here. Objects of other tenants raise
Http404, never 403, so that their existence is not revealed.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from portal.models import Membership, Submitter, User


def is_registry_staff(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_registry_staff)


def submitters_visible_to(user: Any) -> QuerySet[Submitter]:
    """Submitters the user may see: all for registry staff, else memberships and vendor customers."""
    if not (user.is_authenticated and user.is_active):
        return Submitter.objects.none()
    if user.is_registry_staff:
        return Submitter.objects.all()
    visible = Q(id__in=Membership.objects.filter(user_id=user.pk).values("submitter_id"))
    if user.epj_vendor_id:
        visible |= Q(epj_vendor_id=user.epj_vendor_id)
    return Submitter.objects.filter(visible)


def get_submitter_or_404(user: Any, submitter_id: int) -> Submitter:
    try:
        return submitters_visible_to(user).select_related("epj_vendor").get(pk=submitter_id)
    except Submitter.DoesNotExist:
        raise Http404("No such submitter.") from None


def can_edit_contacts(user: User, submitter: Submitter) -> bool:
    """Members and registry staff maintain contacts; vendors only read their customers'."""
    if is_registry_staff(user):
        return True
    return Membership.objects.filter(user_id=user.pk, submitter_id=submitter.pk).exists()


def get_editable_submitter_or_404(user: Any, submitter_id: int) -> Submitter:
    submitter = get_submitter_or_404(user, submitter_id)
    if not can_edit_contacts(user, submitter):
        raise Http404("No such submitter.")
    return submitter


def feedback_kinds_visible_to(user: Any, submitter: Submitter) -> frozenset[str]:
    """Which kinds of the submitter's feedback the user may open: all for members and registry staff,
    the validation feedback (VAL, ERR) for the submitter's EPJ vendor, none for anyone else."""
    from portal.readiness import FeedbackKind

    if is_registry_staff(user) or Membership.objects.filter(user_id=user.pk, submitter_id=submitter.pk).exists():
        return frozenset(FeedbackKind.values)
    if user.is_authenticated and user.epj_vendor_id and user.epj_vendor_id == submitter.epj_vendor_id:
        return frozenset({FeedbackKind.SCHEMA_VALIDATION.value, FeedbackKind.CONTENT_VALIDATION.value})
    return frozenset()
