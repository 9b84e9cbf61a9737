"""The portal's view of what arrived: submission list, receipt page, and "Test a message"."""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.models import Municipality
from submissions.intake import Sender, submission_receive
from submissions.models import Record, Submission
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def kpr_message(submitter, **overrides):
    today = timezone.localdate()
    message = {
        "message_id": str(uuid.uuid4()),
        "register": "KPR",
        "kind": "activity",
        "schema_version": "1.0",
        "mode": "change",
        "recipient": {"org_her_id": 85217, "service_her_id": 122612},
        "sender": {"org_number": submitter.org_number, "municipality_number": submitter.municipality_number},
        "system": {"name": "Gerica", "version": "9"},
        "records": [
            {
                "record_id": "r1",
                "operation": "upsert",
                "patient_ref": "p1",
                "event_date": today.isoformat(),
                "service_code": "6",
                "municipality_number": "0301",
            }
        ],
    }
    message.update(overrides)
    return message


def send(submitter, message):
    outcome = submission_receive(
        body=json.dumps(message).encode(), sender=Sender(org_numbers=frozenset({submitter.org_number}))
    )
    assert outcome.http_status == 201, outcome
    return Submission.objects.get(pk=outcome.submission_id)


def test_members_see_their_submissions_newest_first_and_open_a_receipt(world):
    assert Municipality.objects.filter(number="0301").exists()
    first = send(world.municipality, kpr_message(world.municipality))
    second = send(world.municipality, kpr_message(world.municipality, records=[]))
    client = client_for(world.municipality_user)
    response = client.get(reverse("submissions:submission_list", args=[world.municipality.pk]))
    assert list(response.context["page"].object_list) == [second, first]
    detail = client.get(reverse("submissions:submission_detail", args=[world.municipality.pk, first.pk]))
    assert detail.status_code == 200
    assert 'data-receipt-status="accepted"' in detail.content.decode()


def test_other_tenants_get_404_for_lists_and_receipts(world):
    submission = send(world.municipality, kpr_message(world.municipality))
    specialist = client_for(world.specialist_user)
    assert specialist.get(reverse("submissions:submission_list", args=[world.municipality.pk])).status_code == 404
    url = reverse("submissions:submission_detail", args=[world.municipality.pk, submission.pk])
    assert specialist.get(url).status_code == 404
    # A receipt addressed through one's own submitter id but belonging to another.
    own = reverse("submissions:submission_detail", args=[world.specialist.pk, submission.pk])
    assert client_for(world.staff_user).get(own).status_code == 404
    assert client_for(world.outsider).get(url).status_code == 404


def test_submission_list_paginates_with_a_constant_number_of_queries(world, settings, django_assert_max_num_queries):
    settings.SUBMISSION_PAGE_SIZE = 3
    for _ in range(7):
        send(world.municipality, kpr_message(world.municipality, records=[]))
    client = client_for(world.municipality_user)
    with django_assert_max_num_queries(7):
        response = client.get(reverse("submissions:submission_list", args=[world.municipality.pk]), {"side": 3})
    assert len(response.context["page"].object_list) == 1


def test_test_page_shows_the_receipt_and_stores_nothing(world):
    message = kpr_message(world.municipality)
    message["records"][0]["service_code"] = "12"
    response = client_for(world.municipality_user).post(
        reverse("submissions:test_message"), {"text": json.dumps(message)}
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert 'data-receipt-status="accepted_with_errors"' in content
    assert "KPR-001" in content
    assert not Submission.objects.exists()
    assert not Record.objects.exists()


def test_test_page_accepts_an_uploaded_file(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(
        "melding.json", json.dumps(kpr_message(world.municipality)).encode(), "application/json"
    )
    response = client_for(world.municipality_user).post(reverse("submissions:test_message"), {"file": upload})
    assert 'data-receipt-status="accepted"' in response.content.decode()


def test_test_page_refuses_messages_for_submitters_the_user_does_not_act_for(world):
    response = client_for(world.specialist_user).post(
        reverse("submissions:test_message"), {"text": json.dumps(kpr_message(world.municipality))}
    )
    assert "data-receipt-status" not in response.content.decode()
    assert world.municipality.org_number in response.content.decode()


def test_test_page_explains_broken_json_and_empty_forms(world):
    client = client_for(world.municipality_user)
    broken = client.post(reverse("submissions:test_message"), {"text": '{"message_id": '})
    assert "linje 1" in broken.content.decode()
    empty = client.post(reverse("submissions:test_message"), {})
    assert empty.context["form"].errors


def test_submitter_page_loads_the_newest_submissions_as_an_htmx_fragment(world):
    send(world.municipality, kpr_message(world.municipality))
    client = client_for(world.municipality_user)
    page = client.get(reverse("portal:submitter_detail", args=[world.municipality.pk])).content.decode()
    list_url = reverse("submissions:submission_list", args=[world.municipality.pk])
    assert f'hx-get="{list_url}"' in page
    assert f'href="{list_url}"' in page  # the same list without JavaScript
    fragment = client.get(list_url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="submission-results").content.decode()
    assert "<html" not in fragment
    assert 'class="ds-table"' in fragment


def test_pagination_links_point_at_the_list_wherever_it_is_shown(world, settings):
    settings.SUBMISSION_PAGE_SIZE = 1
    for _ in range(3):
        send(world.municipality, kpr_message(world.municipality, records=[]))
    url = reverse("submissions:submission_list", args=[world.municipality.pk])
    html = client_for(world.municipality_user).get(url, {"side": 2}).content.decode()
    assert f'href="{url}?side=1"' in html
    assert f'hx-get="{url}?side=3"' in html
