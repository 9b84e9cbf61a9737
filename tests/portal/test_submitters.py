"""Creating submitters and contacts through the services: the rules a registry would check."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from portal import services
from portal.models import ContactPerson, Submitter

pytestmark = pytest.mark.django_db


def create(**overrides):
    fields = {
        "name": "Bodø kommune",
        "kind": Submitter.Kind.MUNICIPALITY,
        "sector": Submitter.Sector.PUBLIC,
        "org_number": "972 418 013",
        "reports_kpr": True,
        "service_areas": ["municipal_care"],
        "municipality_number": "1804",
    }
    return services.submitter_create(**{**fields, **overrides})


def test_a_valid_municipality_is_created_with_a_compact_org_number():
    submitter = create()
    assert submitter.org_number == "972418013"
    assert submitter.registers == ["KPR"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"org_number": "972418014"}, "org_number"),
        ({"municipality_number": ""}, "municipality_number"),
        ({"municipality_number": "1899"}, "municipality_number"),
        ({"sector": Submitter.Sector.PRIVATE}, "sector"),
        ({"kind": Submitter.Kind.CONTRACT_SPECIALIST, "sector": "private"}, "municipality_number"),
        ({"service_areas": ["dentistry"]}, "service_areas"),
    ],
)
def test_invalid_submitters_are_refused_on_the_right_field(overrides, field):
    with pytest.raises(ValidationError) as error:
        create(**overrides)
    assert field in error.value.message_dict
    assert not Submitter.objects.exists()


def test_org_numbers_are_unique():
    create()
    with pytest.raises(ValidationError) as error:
        create(name="Kopi", municipality_number="0301")
    assert "org_number" in error.value.message_dict


def test_contact_types_must_be_a_subset_of_the_registry_types():
    submitter = create()
    with pytest.raises(ValidationError) as error:
        services.contact_create(submitter=submitter, name="X", email="x@example.no", mobile="", contact_types=[1, 7])
    assert "contact_types" in error.value.message_dict
    with pytest.raises(ValidationError):
        services.contact_create(submitter=submitter, name="X", email="x@example.no", mobile="", contact_types=[])
    assert not ContactPerson.objects.exists()


def test_contact_mobile_is_stored_in_e164_and_bad_mobiles_refused():
    submitter = create()
    contact = services.contact_create(
        submitter=submitter, name="A", email="a@example.no", mobile="0047 412 34 567", contact_types=[1, 1, 15]
    )
    assert contact.mobile == "+4741234567"
    assert contact.contact_types == [1, 15]
    with pytest.raises(ValidationError) as error:
        services.contact_create(submitter=submitter, name="B", email="b@example.no", mobile="2233", contact_types=[1])
    assert "mobile" in error.value.message_dict


def test_contacts_reported_again_keep_their_rows_and_portal_contacts_stay():
    submitter = create()
    portal_contact = services.contact_create(
        submitter=submitter, name="Portal", email="p@example.no", mobile="", contact_types=[2]
    )
    first = services.contacts_replace_reported(
        submitter=submitter,
        contacts=[
            {"name": "Kari", "email": "kari@example.no", "mobile": "91234567", "contact_types": [1]},
            {"name": "Ola", "email": "ola@example.no", "mobile": "", "contact_types": [15]},
        ],
    )
    kari = next(c for c in first if c.name == "Kari")
    second = services.contacts_replace_reported(
        submitter=submitter,
        contacts=[
            {"name": "Kari Nordmann", "email": "KARI@example.no", "mobile": "41234567", "contact_types": [1, 15]},
            {"name": "Per", "email": "per@example.no", "mobile": "", "contact_types": [1]},
        ],
    )
    kari_again = next(c for c in second if c.email.lower() == "kari@example.no")
    assert kari_again.pk == kari.pk  # e.g. the month's password SMS stays linked to her
    kari.refresh_from_db()
    assert (kari.name, kari.mobile, kari.contact_types) == ("Kari Nordmann", "+4741234567", [1, 15])
    names = set(submitter.contacts.values_list("name", flat=True))
    assert names == {"Portal", "Kari Nordmann", "Per"}
    assert ContactPerson.objects.filter(pk=portal_contact.pk).exists()
