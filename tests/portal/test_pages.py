"""Sign-in, the submitter list (search, filters, pagination, htmx) and contact editing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import ContactPerson
from tests.conftest import PASSWORD, client_for
from tests.factories import SubmitterFactory

pytestmark = pytest.mark.django_db


def test_sign_in_and_out(world):
    client = Client()
    response = client.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    assert "Oslo kommune" in client.get(reverse("portal:home")).content.decode()
    response = client.post(reverse("portal:logout"))
    assert response.status_code == 302
    assert client.get(reverse("portal:home")).status_code == 302


def test_wrong_password_gives_a_clear_message_and_no_session(world):
    client = Client()
    response = client.post(reverse("portal:login"), {"username": "kommune", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_home_lists_only_own_submitters(world):
    content = client_for(world.municipality_user).get(reverse("portal:home")).content.decode()
    assert "Oslo kommune" in content
    assert "Psykiater Hansen" not in content


def test_outsider_is_told_to_ask_for_access(world):
    response = client_for(world.outsider).get(reverse("portal:home"))
    assert response.status_code == 200
    assert response.templates[0].name == "portal/no_access.html"
    content = response.content.decode()
    assert "Du har ikke tilgang ennå" in content
    assert world.outsider.username in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("psykiater", {"Psykiater Hansen"}),
        ("OSLO", {"Oslo kommune"}),
        ("0301", {"Oslo kommune"}),
    ],
)
def test_staff_search_by_name_and_municipality_number(world, query, expected):
    response = client_for(world.staff_user).get(reverse("portal:home"), {"q": query})
    assert {s.name for s in response.context["page"].object_list} == expected


def test_staff_search_by_org_number_and_her_id(world):
    client = client_for(world.staff_user)
    page = client.get(reverse("portal:home"), {"q": world.specialist.org_number}).context["page"]
    assert [s.pk for s in page.object_list] == [world.specialist.pk]
    page = client.get(reverse("portal:home"), {"q": str(world.other_specialist.her_id)}).context["page"]
    assert [s.pk for s in page.object_list] == [world.other_specialist.pk]


def test_filters_by_kind_and_register(world):
    client = client_for(world.staff_user)
    page = client.get(reverse("portal:home"), {"kind": "municipality"}).context["page"]
    assert [s.name for s in page.object_list] == ["Oslo kommune"]
    page = client.get(reverse("portal:home"), {"register": "NPR"}).context["page"]
    assert {s.name for s in page.object_list} == {"Psykiater Hansen", "Øyelege Berg"}


def test_pagination_keeps_the_search(world, settings):
    settings.SUBMITTER_PAGE_SIZE = 2
    SubmitterFactory.create_batch(5, name="Fysio AS")
    client = client_for(world.staff_user)
    first = client.get(reverse("portal:home"), {"q": "fysio"})
    assert first.context["page"].paginator.num_pages == 3
    assert "q=fysio&amp;side=2" in first.content.decode()
    last = client.get(reverse("portal:home"), {"q": "fysio", "side": "3"})
    assert len(last.context["page"].object_list) == 1


def test_htmx_search_returns_only_the_results_fragment(world):
    response = client_for(world.staff_user).get(
        reverse("portal:home"), {"q": "oslo"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="submitter-results"
    )
    content = response.content.decode()
    assert "Oslo kommune" in content
    assert "<html" not in content
    assert "<form" not in content


def test_staff_list_uses_a_constant_number_of_queries(world, django_assert_max_num_queries):
    SubmitterFactory.create_batch(30)
    client = client_for(world.staff_user)
    with django_assert_max_num_queries(6):
        client.get(reverse("portal:home"))


def test_submitter_page_query_count_does_not_grow_with_contacts(world, django_assert_max_num_queries):
    from tests.factories import ContactFactory

    ContactFactory.create_batch(20, submitter=world.municipality)
    client = client_for(world.municipality_user)
    with django_assert_max_num_queries(8):
        client.get(reverse("portal:submitter_detail", args=[world.municipality.pk]))


def test_member_adds_a_contact_with_mobile_normalized(world):
    client = client_for(world.municipality_user)
    url = reverse("portal:contact_create", args=[world.municipality.pk])
    response = client.post(
        url, {"name": "Nina Ny", "email": "nina@oslo.kommune.no", "mobile": "912 34 567", "contact_types": ["1", "15"]}
    )
    assert response.status_code == 302
    contact = world.municipality.contacts.get(name="Nina Ny")
    assert contact.mobile == "+4791234567"
    assert contact.contact_types == [1, 15]
    assert contact.source == ContactPerson.Source.PORTAL


def test_bad_contact_input_is_shown_next_to_the_field_and_nothing_is_saved(world):
    client = client_for(world.municipality_user)
    url = reverse("portal:contact_create", args=[world.municipality.pk])
    response = client.post(url, {"name": "Feil", "email": "ikke-epost", "mobile": "22334455"})
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"email", "mobile", "contact_types"}
    content = response.content.decode()
    assert 'aria-invalid="true"' in content
    assert 'id="id_mobile_error"' in content
    assert not world.municipality.contacts.filter(name="Feil").exists()


def test_a_contact_name_with_a_control_character_is_refused_with_where_it_is(world):
    client = client_for(world.municipality_user)
    url = reverse("portal:contact_create", args=[world.municipality.pk])
    data = {"name": "Kari\x1f Nordmann", "email": "kari@example.no", "contact_types": ["1"]}
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"name"}
    assert "U+001F" in errors["name"][0] and "tegn 5" in errors["name"][0]
    assert not world.municipality.contacts.filter(email="kari@example.no").exists()


def test_member_edits_and_removes_a_contact(world):
    client = client_for(world.municipality_user)
    contact = world.municipality.contacts.get()
    url = reverse("portal:contact_update", args=[world.municipality.pk, contact.pk])
    assert client.get(url).context["form"].initial["name"] == "Kari Teknisk"
    response = client.post(url, {"name": "Kari T.", "email": contact.email, "mobile": "", "contact_types": ["1"]})
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.name, contact.mobile) == ("Kari T.", "")
    assert client.get(reverse("portal:contact_delete", args=[world.municipality.pk, contact.pk])).status_code == 405
    client.post(reverse("portal:contact_delete", args=[world.municipality.pk, contact.pk]))
    assert not world.municipality.contacts.exists()


def test_health_endpoint(db):
    response = Client().get(reverse("portal:health"))
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
