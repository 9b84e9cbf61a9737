"""The feedback pages with named actors: who sees which feedback, downloads are logged, staff actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from feedback import services
from feedback.models import FeedbackDownload, FeedbackReport, MonthlyPassword, SmsOutbox
from portal.models import User
from portal.readiness import FeedbackKind
from tests.conftest import client_for
from tests.factories import MembershipFactory, UserFactory
from tests.feedback.conftest import YEAR, finding, make_submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def actors(people, enqueued):
    member = UserFactory(username="hansen")
    MembershipFactory(user=member, submitter=people.submitter)
    staff = UserFactory(username="fhi-staff", registry_role=User.RegistryRole.STAFF)
    vendor_user = UserFactory(username="dips", epj_vendor=people.submitter.epj_vendor)
    outsider = UserFactory(username="outsider")
    val = make_submission(people.submitter, status="rejected", findings=[finding("SCHEMA-001")])
    services.feedback_for_submission(submission_id=val.pk)
    activity = services.activity_request(user=staff, submitter=people.submitter, register="NPR", year=YEAR)
    for report in FeedbackReport.objects.all():
        services.report_produce(report_id=report.pk)
    return {
        "member": member,
        "staff": staff,
        "vendor": vendor_user,
        "outsider": outsider,
        "val": FeedbackReport.objects.get(kind=FeedbackKind.SCHEMA_VALIDATION),
        "activity": FeedbackReport.objects.get(pk=activity.pk),
    }


def _list(people):
    return reverse("feedback:feedback_list", kwargs={"submitter_id": people.submitter.pk})


def _download(people, report):
    return reverse("feedback:feedback_download", kwargs={"submitter_id": people.submitter.pk, "report_id": report.pk})


def test_members_see_every_feedback_with_recipients_and_sms(actors, people):
    response = client_for(actors["member"]).get(_list(people))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-report="{actors["val"].pk}"' in html and f'data-report="{actors["activity"].pk}"' in html
    assert "Tore Teknisk" in html and "Vera Leverandør" in html
    assert _download(people, actors["activity"]) in html
    assert "Send the password again" not in html and "passord/send-igjen" not in html  # staff only
    password = services.monthly_password_reveal(MonthlyPassword.objects.get(submitter=people.submitter))
    assert password not in html


def test_vendors_see_only_validation_feedback_of_their_customers(actors, people):
    client = client_for(actors["vendor"])
    html = client.get(_list(people)).content.decode()
    assert f'data-report="{actors["val"].pk}"' in html
    assert f'data-report="{actors["activity"].pk}"' not in html
    assert client.get(_download(people, actors["val"])).status_code == 200
    assert client.get(_download(people, actors["activity"])).status_code == 404


def test_outsiders_and_other_tenants_get_404(actors, people, world):
    assert client_for(actors["outsider"]).get(_list(people)).status_code == 404
    assert client_for(actors["outsider"]).get(_download(people, actors["val"])).status_code == 404
    other_member = world.municipality_user
    assert client_for(other_member).get(_list(people)).status_code == 404
    # A report id of this submitter under the other member's own submitter: still 404.
    url = reverse(
        "feedback:feedback_download", kwargs={"submitter_id": world.municipality.pk, "report_id": actors["val"].pk}
    )
    assert client_for(other_member).get(url).status_code == 404


def test_a_download_is_the_archive_as_an_attachment_and_is_logged(actors, people):
    report = actors["activity"]
    response = client_for(actors["member"]).get(_download(people, report))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"] and report.file_name in response["Content-Disposition"]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert len(body) == report.size
    [log] = FeedbackDownload.objects.all()
    assert (log.report, log.user, log.username) == (report, actors["member"], "hansen")


def test_staff_order_activity_feedback_and_others_cannot(actors, people, enqueued):
    url = reverse("feedback:activity_order", kwargs={"submitter_id": people.submitter.pk})
    before = FeedbackReport.objects.count()
    assert client_for(actors["member"]).post(url, {"register": "NPR", "year": YEAR}).status_code == 404
    response = client_for(actors["staff"]).post(url, {"register": "NPR", "year": YEAR})
    assert response.status_code == 302
    report = FeedbackReport.objects.latest("id")
    assert FeedbackReport.objects.count() == before + 1
    assert (report.kind, report.trigger, report.requested_by) == ("activity", "staff", actors["staff"])
    assert report.pk in enqueued.ids("produce_report")
    assert client_for(actors["staff"]).post(url, {"register": "KPR", "year": YEAR}).status_code == 400


def test_staff_resend_the_password_once_in_a_while_and_it_records_who_asked(actors, people, enqueued):
    url = reverse("feedback:password_resend", kwargs={"submitter_id": people.submitter.pk})
    assert client_for(actors["member"]).post(url, {"contact": people.technical.pk}).status_code == 404
    staff = client_for(actors["staff"])
    assert staff.get(_list(people)).content.decode().count("passord/send-igjen") == 1
    response = staff.post(url, {"contact": people.technical.pk})
    assert response.status_code == 302
    row = SmsOutbox.objects.get(contact=people.technical, round=1)
    assert row.requested_by == actors["staff"] and row.pk in enqueued.ids("send_password_sms")
    again = staff.post(url, {"contact": people.somatic.pk})
    assert again.status_code == 429
    assert SmsOutbox.objects.filter(round__gt=0).count() == 1
    # A contact that cannot open feedback is not offered and not accepted.
    assert staff.post(url, {"contact": people.no_mobile.pk}).status_code == 400


def test_the_submitter_page_links_to_feedback(actors, people):
    url = reverse("portal:submitter_detail", kwargs={"submitter_id": people.submitter.pk})
    assert _list(people) in client_for(actors["member"]).get(url).content.decode()
