"""The one place that decides which submitters a user may see.

Every read of submitter data goes through here. Objects of other tenants raise
Http404, never 403, so that their existence is not revealed; every refusal is
written to the audit log (kind "authorization_failed") before the 404 is raised.

Roles:
- submitter member (a Membership): reads and maintains its submitters (contacts, extension requests);
- EPJ vendor user (User.epj_vendor): reads the submitters its vendor serves — their page, submissions,
  receipts, deadlines and validation feedback — and changes nothing;
- registry staff (User.registry_role = staff): reads every submitter and maintains contacts;
- registry administrator (registry_role = admin): what staff may, and the administration pages.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from portal import audit
from portal.models import ContactPerson, Membership, Submitter, User
from portal.readiness import FeedbackKind

# Feedback an EPJ vendor may open for the submitters it serves: the validation results that go to
# contact type 15 ("EPJ-leverandør, meldingsvalidering"), not the submitter's activity or ident data.
VENDOR_FEEDBACK_KINDS = frozenset({FeedbackKind.SCHEMA_VALIDATION, FeedbackKind.CONTENT_VALIDATION})


def is_registry_staff(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_registry_staff)


def is_registry_admin(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_registry_admin)


def has_any_access(user: Any) -> bool:
    """False for a signed-in person the registry has not yet given a membership, vendor or role."""
    if not (user.is_authenticated and user.is_active):
        return False
    return bool(user.is_registry_staff or user.epj_vendor_id or Membership.objects.filter(user_id=user.pk).exists())


def refused(user: Any, object_type: str, object_id: object, **details: Any) -> Http404:
    """Record a refused attempt in the audit log and return the 404 to raise.

    For helpers outside this module that refuse an object: `raise access.refused(user, "report", id)`.
    """
    audit.record_refusal(user, object_type, object_id, **details)
    return Http404(f"No such {object_type}.")


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
    """The submitter, if the user may read it: its page, submissions, receipts and deadlines."""
    try:
        return submitters_visible_to(user).select_related("epj_vendor").get(pk=submitter_id)
    except Submitter.DoesNotExist:
        raise refused(user, "submitter", submitter_id) from None


def is_member(user: Any, submitter: Submitter) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and Membership.objects.filter(user_id=user.pk, submitter_id=submitter.pk).exists()
    )


def can_apply_for_extension(user: Any, submitter: Submitter) -> bool:
    """Only people who act for the submitter apply for a later deadline; registry staff decide and EPJ vendors only
    read."""
    return is_member(user, submitter)


def can_comment(user: Any, submitter: Submitter) -> bool:
    """People who act for the submitter explain its large changes; registry staff and vendors read them."""
    return is_member(user, submitter)


def can_edit_contacts(user: User, submitter: Submitter) -> bool:
    """Members and registry staff maintain contacts; vendors only read their customers'."""
    if is_registry_staff(user):
        return True
    return is_member(user, submitter)


def get_editable_submitter_or_404(user: Any, submitter_id: int) -> Submitter:
    submitter = get_submitter_or_404(user, submitter_id)
    if not can_edit_contacts(user, submitter):
        raise refused(user, "submitter", submitter_id, action="edit")
    return submitter


def get_contact_or_404(user: Any, submitter: Submitter, contact_id: int) -> ContactPerson:
    """A contact of a submitter the caller already got from this module (never another's contact)."""
    try:
        return submitter.contacts.get(pk=contact_id)
    except ContactPerson.DoesNotExist:
        raise refused(user, "contact", contact_id, submitter_id=submitter.pk) from None


def feedback_kinds_visible_to(user: Any, submitter: Submitter) -> frozenset[str]:
    """Which kinds of the submitter's feedback the user may open: all for members and registry staff,
    the validation feedback for the submitter's EPJ vendor, none for anyone else."""
    if is_registry_staff(user) or is_member(user, submitter):
        return frozenset(FeedbackKind.values)
    if (
        user.is_authenticated
        and user.is_active
        and user.epj_vendor_id
        and user.epj_vendor_id == submitter.epj_vendor_id
    ):
        return VENDOR_FEEDBACK_KINDS
    return frozenset()


def get_feedback_submitter_or_404(user: Any, submitter_id: int, kind: str) -> Submitter:
    """The submitter, if the user may open its feedback of this kind (a vendor: validation only)."""
    submitter = get_submitter_or_404(user, submitter_id)
    if kind not in feedback_kinds_visible_to(user, submitter):
        raise refused(user, "submitter", submitter_id, feedback_kind=kind)
    return submitter
