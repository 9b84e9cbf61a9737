"""The feedback-readiness check: which feedback can reach someone who can open it."""

from __future__ import annotations

import pytest
from django.utils import translation

from portal.models import ServiceArea
from portal.readiness import FeedbackKind, feedback_readiness, routed_contact_types
from tests.factories import ContactFactory, SubmitterFactory

pytestmark = pytest.mark.django_db


def by_kind(submitter):
    return {item.kind: item for item in feedback_readiness(submitter)}


def test_routing_follows_the_registry_rules():
    submitter = SubmitterFactory(service_areas=[ServiceArea.SOMATIC, ServiceArea.CHILD_MENTAL_HEALTH])
    assert routed_contact_types(submitter, FeedbackKind.SCHEMA_VALIDATION) == (1, 15)
    assert routed_contact_types(submitter, FeedbackKind.CONTENT_VALIDATION) == (1, 15)
    assert routed_contact_types(submitter, FeedbackKind.IDENT) == (1,)
    assert routed_contact_types(submitter, FeedbackKind.ACTIVITY) == (1, 2, 4)


def test_municipal_care_gets_activity_feedback_through_type_1_only():
    submitter = SubmitterFactory(service_areas=[ServiceArea.MUNICIPAL_CARE])
    assert routed_contact_types(submitter, FeedbackKind.ACTIVITY) == (1,)


def test_all_ready_when_a_type_1_contact_has_email_and_mobile():
    submitter = SubmitterFactory()
    ContactFactory(submitter=submitter, contact_types=[1], mobile="+4791234567")
    assert all(item.ready for item in feedback_readiness(submitter))


def test_type_1_without_mobile_blocks_schema_and_content_feedback():
    submitter = SubmitterFactory(service_areas=[ServiceArea.ADULT_MENTAL_HEALTH])
    no_mobile = ContactFactory(submitter=submitter, name="Uten Mobil", contact_types=[1], mobile="")
    ContactFactory(submitter=submitter, contact_types=[3], mobile="+4791234567")
    result = by_kind(submitter)
    assert not result[FeedbackKind.SCHEMA_VALIDATION].ready
    assert result[FeedbackKind.SCHEMA_VALIDATION].without_mobile == [no_mobile]
    assert not result[FeedbackKind.IDENT].ready
    # Activity also goes to type 3 for adult mental health, who has a mobile.
    assert result[FeedbackKind.ACTIVITY].ready
    with translation.override("nb"):
        message = result[FeedbackKind.SCHEMA_VALIDATION].message
    assert "type 1 eller 15" in message
    assert "kan ikke åpnes" in message


def test_a_vendor_contact_type_15_is_enough_for_validation_feedback():
    submitter = SubmitterFactory()
    ContactFactory(submitter=submitter, contact_types=[15], mobile="+4741234567")
    result = by_kind(submitter)
    assert result[FeedbackKind.SCHEMA_VALIDATION].ready
    assert result[FeedbackKind.CONTENT_VALIDATION].ready
    assert not result[FeedbackKind.IDENT].ready


def test_contact_without_email_gets_nothing():
    submitter = SubmitterFactory()
    contact = ContactFactory(submitter=submitter, contact_types=[1], email="", mobile="+4791234567")
    result = by_kind(submitter)
    assert not result[FeedbackKind.IDENT].ready
    assert result[FeedbackKind.IDENT].without_email == [contact]


def test_a_landline_is_not_a_mobile():
    submitter = SubmitterFactory()
    # Stored before validation existed (e.g. reported in a message): a landline number.
    ContactFactory(submitter=submitter, contact_types=[1], mobile="+4722334455")
    assert not by_kind(submitter)[FeedbackKind.IDENT].ready


def test_the_submitter_page_shows_the_readiness(world, client):
    from django.urls import reverse

    from tests.conftest import client_for

    world.municipality.contacts.update(mobile="")
    response = client_for(world.municipality_user).get(
        reverse("portal:submitter_detail", args=[world.municipality.pk]), HTTP_ACCEPT_LANGUAGE="nb"
    )
    content = response.content.decode()
    assert 'data-readiness="schema_validation"' in content
    assert "Ingen kontaktperson av type 1 eller 15" in content
    assert "Kari Teknisk" in content
