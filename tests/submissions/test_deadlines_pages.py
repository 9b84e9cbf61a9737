"""The deadline pages: the submitter's page (statuses, daily gap), staff's calendar editor, navigation."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from submissions.models import Deadline, Submission
from submissions.selectors_deadlines import daily_reporting, daily_reporting_gap
from submissions.workdays import OSLO
from tests.conftest import client_for
from tests.factories import AcceptedSubmissionFactory, DeadlineFactory, ExtensionFactory

pytestmark = pytest.mark.django_db
D = datetime.date


def page_url(submitter):
    return reverse("deadlines:submitter_deadlines", args=[submitter.pk])


def test_the_submitter_page_shows_each_deadline_with_its_status_in_norwegian(world):
    received = datetime.datetime(2025, 5, 5, 14, 30, tzinfo=OSLO)
    for kind in ("activity", "ident"):
        AcceptedSubmissionFactory(
            submitter=world.specialist,
            kind=kind,
            received_at=received,
            period_start=D(2025, 1, 1),
            period_end=D(2025, 4, 30),
        )
    response = client_for(world.specialist_user).get(page_url(world.specialist), {"aar": "2025"})
    assert response.status_code == 200
    rows = {row.deadline.due_date: row for row in response.context["rows"]}
    assert list(rows) == [D(2025, 5, 10), D(2025, 9, 10), D(2026, 1, 10)]
    assert rows[D(2025, 5, 10)].status == "on_time"
    assert rows[D(2025, 9, 10)].status == "not_received"
    assert rows[D(2025, 9, 10)].overdue
    content = response.content.decode()
    assert "10. mai 2025 kl. 23.59" in content
    assert "10. januar 2026 kl. 23.59" in content
    assert "5. mai 2025 kl. 14.30" in content  # when it was delivered
    assert 'data-status="on_time"' in content
    assert "Levert i tide" in content


def test_the_page_opens_on_the_year_of_the_next_deadline_and_links_the_other_years(world):
    response = client_for(world.municipality_user).get(page_url(world.municipality))
    today = timezone.localdate()
    next_kpr = Deadline.objects.filter(register="KPR", due_date__gte=today).order_by("due_date").first()
    assert response.context["year"] == (next_kpr.year if next_kpr else today.year)
    assert 2024 in response.context["years"]
    assert 'href="?aar=2024"' in response.content.decode()


def test_an_extended_deadline_is_shown_with_the_calendars_date(world):
    deadline = DeadlineFactory(register="KPR", submitter_kinds=["municipality"], year=2030,
                               period_end=D(2030, 12, 31), due_date=D(2031, 1, 15))  # fmt: skip
    ExtensionFactory(
        submitter=world.municipality,
        deadline=deadline,
        status="granted",
        granted_date=D(2031, 2, 1),
        decided_at=timezone.now(),
        decided_by=world.staff_user,
    )
    content = client_for(world.municipality_user).get(page_url(world.municipality), {"aar": "2030"}).content.decode()
    assert "1. februar 2031 kl. 23.59" in content
    assert "15. januar 2031" in content
    assert "Innvilget" in content


def test_the_submitter_page_query_count_does_not_grow_with_requests(world, django_assert_max_num_queries):
    deadline = Deadline.objects.get(register="KPR", due_date=D(2026, 1, 15))
    for status in ("withdrawn", "withdrawn", "withdrawn", "open"):
        ExtensionFactory(submitter=world.municipality, deadline=deadline, status=status)
    client = client_for(world.municipality_user)
    with django_assert_max_num_queries(12):
        client.get(page_url(world.municipality), {"aar": "2025"})


def test_the_submitter_page_links_to_the_deadlines(world):
    content = client_for(world.vendor_user).get(reverse("portal:submitter_detail", args=[world.municipality.pk]))
    assert page_url(world.municipality) in content.content.decode()


def test_staff_get_a_menu_link_and_others_do_not(world):
    queue = reverse("deadlines:extension_queue")
    assert queue in client_for(world.staff_user).get(reverse("portal:home")).content.decode()
    assert queue not in client_for(world.municipality_user).get(reverse("portal:home")).content.decode()


# -- daily, change-based reporting -------------------------------------------------------------------


def message(submitter, at, **fields):
    defaults = {"mode": Submission.Mode.CHANGE, "period_start": None, "period_end": None}
    return AcceptedSubmissionFactory(submitter=submitter, received_at=at, **{**defaults, **fields})


def test_a_periodic_reporter_has_no_daily_gap(world):
    assert daily_reporting_gap(submitter=world.specialist, today=D(2030, 3, 10)) is None
    AcceptedSubmissionFactory(submitter=world.specialist, received_at=datetime.datetime(2030, 3, 1, tzinfo=OSLO))
    assert daily_reporting_gap(submitter=world.specialist, today=D(2030, 3, 10)) is None


def test_working_days_without_a_message_for_a_change_based_reporter(world):
    message(world.specialist, datetime.datetime(2030, 3, 5, 23, 30, tzinfo=OSLO))  # a Tuesday evening
    # A later rejected message and a validation-only one do not close the gap.
    message(world.specialist, datetime.datetime(2030, 3, 7, 9, tzinfo=OSLO), status=Submission.Status.REJECTED)
    message(world.specialist, datetime.datetime(2030, 3, 8, 9, tzinfo=OSLO), validate_only=True)
    assert daily_reporting_gap(submitter=world.specialist, today=D(2030, 3, 6)) == 0
    assert daily_reporting_gap(submitter=world.specialist, today=D(2030, 3, 11)) == 3  # Wed, Thu, Fri
    reporting = daily_reporting(submitter=world.specialist, today=D(2030, 3, 11))
    assert reporting.last_message_at == datetime.datetime(2030, 3, 5, 23, 30, tzinfo=OSLO)


def test_easter_is_not_a_gap(world):
    message(world.specialist, datetime.datetime(2030, 4, 17, 15, tzinfo=OSLO))  # Wednesday before Easter 2030
    assert daily_reporting_gap(submitter=world.specialist, today=D(2030, 4, 23)) == 0  # Tuesday after


def test_the_gap_is_shown_on_the_page(world):
    last = timezone.now() - datetime.timedelta(days=15)
    message(world.municipality, last, register="KPR")
    response = client_for(world.municipality_user).get(page_url(world.municipality))
    daily = response.context["daily"]
    assert daily.working_days_without_message >= 8
    assert f'data-daily-gap="{daily.working_days_without_message}"' in response.content.decode()
    assert "virkedager" in response.content.decode()


# -- the calendar editor ------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["municipality_user", "vendor_user", "specialist_user", "outsider"])
def test_the_calendar_is_for_registry_staff_only(world, actor):
    deadline = Deadline.objects.first()
    client = client_for(getattr(world, actor))
    for url in (
        reverse("deadlines:calendar"),
        reverse("deadlines:deadline_create"),
        reverse("deadlines:deadline_update", args=[deadline.pk]),
    ):
        assert client.get(url).status_code == 404
    response = client.post(reverse("deadlines:deadline_update", args=[deadline.pk]), {"due_date": "2099-01-01"})
    assert response.status_code == 404


def test_staff_add_a_deadline(world):
    client = client_for(world.staff_user)
    assert "10. mai 2027 kl. 23.59" in client.get(reverse("deadlines:calendar")).content.decode()
    form = {
        "register": "KPR",
        "submitter_kinds": ["municipality", "other_private"],
        "period_start": "2028-01-01",
        "period_end": "2028-12-31",
        "due_date": "2029-01-15",
        "cumulative": "on",
        "message_kinds": ["activity", "ident"],
    }
    response = client.post(reverse("deadlines:deadline_create"), form)
    assert response.status_code == 302
    deadline = Deadline.objects.get(register="KPR", due_date=D(2029, 1, 15))
    assert deadline.submitter_kinds == ["municipality", "other_private"]
    assert deadline.cumulative
    # The same period again for an overlapping group is refused, with the reason shown.
    response = client.post(reverse("deadlines:deadline_create"), {**form, "due_date": "2029-01-20"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert 'role="alert"' in response.content.decode()


def test_staff_edit_a_deadline_and_bad_input_is_shown_by_the_field(world):
    deadline = Deadline.objects.get(register="NPR", due_date=D(2027, 5, 10))
    client = client_for(world.staff_user)
    url = reverse("deadlines:deadline_update", args=[deadline.pk])
    form = client.get(url).context["form"]
    assert form.initial["due_date"] == D(2027, 5, 10)
    data = {
        "register": "NPR",
        "submitter_kinds": deadline.submitter_kinds,
        "period_start": "2027-01-01",
        "period_end": "2027-04-30",
        "due_date": "2027-04-30",
        "cumulative": "on",
        "message_kinds": ["activity", "ident"],
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert "due_date" in response.context["form"].errors
    assert 'id="id_due_date_error"' in response.content.decode()
    response = client.post(url, {**data, "due_date": "2027-05-12"})
    assert response.status_code == 302
    deadline.refresh_from_db()
    assert deadline.due_date == D(2027, 5, 12)
    response = client.post(url, {**data, "due_date": "2027-05-12", "submitter_kinds": []})
    assert "submitter_kinds" in response.context["form"].errors
