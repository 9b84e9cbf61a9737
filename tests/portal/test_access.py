"""Who sees which submitter: each named actor sees exactly its own; everything else is 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.access import get_submitter_or_404, submitters_visible_to
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def visible_names(user):
    return set(submitters_visible_to(user).values_list("name", flat=True))


def test_each_actor_sees_exactly_its_submitters(world):
    assert visible_names(world.municipality_user) == {"Oslo kommune"}
    assert visible_names(world.specialist_user) == {"Psykiater Hansen"}
    # The vendor user works for Gerica, which serves Oslo kommune only.
    assert visible_names(world.vendor_user) == {"Oslo kommune"}
    assert visible_names(world.staff_user) == {"Oslo kommune", "Psykiater Hansen", "Øyelege Berg"}
    assert visible_names(world.outsider) == set()


def test_a_user_with_two_memberships_sees_both(world):
    from tests.factories import MembershipFactory

    MembershipFactory(user=world.specialist_user, submitter=world.other_specialist)
    assert visible_names(world.specialist_user) == {"Psykiater Hansen", "Øyelege Berg"}


def test_inactive_and_anonymous_users_see_nothing(world):
    from django.contrib.auth.models import AnonymousUser

    world.staff_user.is_active = False
    world.staff_user.save()
    assert visible_names(world.staff_user) == set()
    assert visible_names(AnonymousUser()) == set()


def test_get_or_404_refuses_other_tenants(world):
    from django.http import Http404

    assert get_submitter_or_404(world.municipality_user, world.municipality.pk) == world.municipality
    with pytest.raises(Http404):
        get_submitter_or_404(world.municipality_user, world.specialist.pk)


@pytest.mark.parametrize(
    ("actor", "own", "foreign"),
    [
        ("municipality_user", "municipality", "specialist"),
        ("specialist_user", "specialist", "other_specialist"),
        ("vendor_user", "municipality", "specialist"),
        ("outsider", None, "municipality"),
    ],
)
def test_submitter_page_is_404_for_other_tenants(world, actor, own, foreign):
    client = client_for(getattr(world, actor))
    if own:
        response = client.get(reverse("portal:submitter_detail", args=[getattr(world, own).pk]))
        assert response.status_code == 200
    response = client.get(reverse("portal:submitter_detail", args=[getattr(world, foreign).pk]))
    assert response.status_code == 404


def test_staff_open_any_submitter(world):
    client = client_for(world.staff_user)
    for submitter in (world.municipality, world.specialist, world.other_specialist):
        assert client.get(reverse("portal:submitter_detail", args=[submitter.pk])).status_code == 200


def test_contact_pages_are_404_for_other_tenants_and_for_read_only_vendors(world):
    foreign_contact = world.specialist.contacts.get()
    own_contact = world.municipality.contacts.get()
    municipality_client = client_for(world.municipality_user)
    # Someone else's contact, even addressed through one's own submitter id.
    for url in (
        reverse("portal:contact_update", args=[world.specialist.pk, foreign_contact.pk]),
        reverse("portal:contact_update", args=[world.municipality.pk, foreign_contact.pk]),
        reverse("portal:contact_create", args=[world.specialist.pk]),
    ):
        assert municipality_client.get(url).status_code == 404
    response = municipality_client.post(
        reverse("portal:contact_delete", args=[world.municipality.pk, foreign_contact.pk])
    )
    assert response.status_code == 404
    assert world.specialist.contacts.filter(pk=foreign_contact.pk).exists()
    # The vendor may read its customer but not change its contacts.
    vendor_client = client_for(world.vendor_user)
    assert vendor_client.get(reverse("portal:submitter_detail", args=[world.municipality.pk])).status_code == 200
    update_url = reverse("portal:contact_update", args=[world.municipality.pk, own_contact.pk])
    assert vendor_client.get(update_url).status_code == 404


def test_anonymous_users_are_sent_to_sign_in(world):
    from django.test import Client

    response = Client().get(reverse("portal:submitter_detail", args=[world.municipality.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_vendors_open_only_validation_feedback_of_their_customers(world):
    from portal.access import feedback_kinds_visible_to, get_feedback_submitter_or_404
    from portal.models import AuditEvent
    from portal.readiness import FeedbackKind

    everything = set(FeedbackKind.values)
    assert feedback_kinds_visible_to(world.municipality_user, world.municipality) == everything
    assert feedback_kinds_visible_to(world.staff_user, world.specialist) == everything
    assert feedback_kinds_visible_to(world.vendor_user, world.municipality) == {
        FeedbackKind.SCHEMA_VALIDATION,
        FeedbackKind.CONTENT_VALIDATION,
    }
    assert feedback_kinds_visible_to(world.vendor_user, world.specialist) == set()
    assert feedback_kinds_visible_to(world.outsider, world.municipality) == set()
    assert get_feedback_submitter_or_404(world.vendor_user, world.municipality.pk, "content_validation")
    from django.http import Http404

    with pytest.raises(Http404):
        get_feedback_submitter_or_404(world.vendor_user, world.municipality.pk, "activity")
    refusal = AuditEvent.objects.get(kind="authorization_failed")
    assert (refusal.user_id, refusal.object_id, refusal.details) == (
        world.vendor_user.pk,
        str(world.municipality.pk),
        {"feedback_kind": "activity"},
    )


def test_who_has_any_access(world):
    from portal.access import has_any_access

    assert [has_any_access(getattr(world, actor)) for actor in ("municipality_user", "vendor_user", "staff_user")] == [
        True,
        True,
        True,
    ]
    assert not has_any_access(world.outsider)


def test_refusals_outside_a_request_are_logged_without_an_address(world):
    from django.http import Http404

    from portal.models import AuditEvent

    with pytest.raises(Http404):
        get_submitter_or_404(world.municipality_user, world.specialist.pk)
    refusal = AuditEvent.objects.get(kind="authorization_failed")
    assert (refusal.object_type, refusal.path, refusal.ip) == ("submitter", "", None)
