"""Requests for a later deadline, from application to decision, for each named actor; the e-mails."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation

from portal.celery import app as celery_app
from submissions import deadlines
from submissions.models import Extension
from submissions.workdays import OSLO
from tests.conftest import client_for
from tests.factories import ContactFactory, DeadlineFactory, ExtensionFactory, UserFactory

pytestmark = pytest.mark.django_db
D = datetime.date


@pytest.fixture
def kpr_deadline():
    """The municipality's annual KPR deadline for 2030, due 15 January 2031."""
    return DeadlineFactory(
        register="KPR",
        submitter_kinds=["municipality"],
        period_start=D(2030, 1, 1),
        period_end=D(2030, 12, 31),
        due_date=D(2031, 1, 15),
    )


@pytest.fixture
def npr_deadline():
    return DeadlineFactory(year=2030)


@pytest.fixture
def eager_celery():
    """Tasks run in-process when their on_commit callback fires."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def apply_url(submitter):
    return reverse("deadlines:extension_apply", args=[submitter.pk])


def page_url(submitter):
    return reverse("deadlines:submitter_deadlines", args=[submitter.pk])


def application(deadline, requested="2031-02-15", justification="Vi har byttet journalsystem i desember."):
    return {"deadline": str(deadline.pk), "requested_date": requested, "justification": justification}


# -- applying --------------------------------------------------------------------------------------


def test_a_member_applies_and_sees_the_request_on_the_page(world, kpr_deadline):
    client = client_for(world.municipality_user)
    response = client.post(apply_url(world.municipality), application(kpr_deadline))
    assert response.status_code == 302
    assert response["Location"] == page_url(world.municipality)
    extension = Extension.objects.get()
    assert extension.submitter == world.municipality
    assert extension.deadline == kpr_deadline
    assert extension.status == Extension.Status.OPEN
    assert extension.previous_date == D(2031, 1, 15)
    assert extension.requested_date == D(2031, 2, 15)
    assert extension.requested_by == world.municipality_user
    assert not extension.applied_late
    content = client.get(page_url(world.municipality), {"aar": "2030"}).content.decode()
    assert f'data-extension="{extension.pk}"' in content
    assert "Vi har byttet journalsystem" in content


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"justification": "   "}, "justification"),
        ({"requested_date": "2031-01-15"}, "requested_date"),  # not after the deadline
        ({"requested_date": "2031-01-10"}, "requested_date"),
        ({"requested_date": "15.02.2031x"}, "requested_date"),
        ({"justification": "Nytt system\x1b[31m"}, "justification"),  # a pasted terminal escape
    ],
)
def test_bad_applications_are_shown_next_to_the_field_and_nothing_is_saved(world, kpr_deadline, data, field):
    client = client_for(world.municipality_user)
    response = client.post(apply_url(world.municipality), {**application(kpr_deadline), **data})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Extension.objects.exists()


def test_a_deadline_of_another_group_cannot_be_chosen(world, npr_deadline):
    client = client_for(world.municipality_user)
    response = client.post(apply_url(world.municipality), application(npr_deadline, requested="2030-06-01"))
    assert response.status_code == 200
    assert "deadline" in response.context["form"].errors
    assert not Extension.objects.exists()


def test_one_open_request_per_submitter_and_period(world, kpr_deadline):
    client = client_for(world.municipality_user)
    client.post(apply_url(world.municipality), application(kpr_deadline))
    response = client.post(apply_url(world.municipality), application(kpr_deadline, requested="2031-03-01"))
    assert response.status_code == 200
    assert Extension.objects.count() == 1
    # The service says so in words; the database refuses a second open row even if the check is bypassed.
    with translation.override("en"), pytest.raises(ValidationError, match="already an open request"):
        deadlines.extension_apply(
            user=world.municipality_user,
            submitter=world.municipality,
            deadline=kpr_deadline,
            requested_date=D(2031, 3, 1),
            justification="Igjen",
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        ExtensionFactory(submitter=world.municipality, deadline=kpr_deadline)
    # Once the first is withdrawn, a new request may be made.
    deadlines.extension_withdraw(user=world.municipality_user, extension=Extension.objects.get())
    response = client.post(apply_url(world.municipality), application(kpr_deadline, requested="2031-03-01"))
    assert response.status_code == 302
    assert Extension.objects.filter(status=Extension.Status.OPEN).count() == 1


def test_applying_after_the_deadline_is_allowed_and_flagged(world, kpr_deadline):
    after = datetime.datetime(2031, 1, 16, 0, 1, tzinfo=OSLO)
    extension = deadlines.extension_apply(
        user=world.municipality_user,
        submitter=world.municipality,
        deadline=kpr_deadline,
        requested_date=D(2031, 1, 31),
        justification="Glemte fristen.",
        now=after,
    )
    assert extension.applied_late
    on_the_last_evening = datetime.datetime(2031, 1, 15, 23, 58, tzinfo=OSLO)
    deadlines.extension_withdraw(user=world.municipality_user, extension=extension)
    extension = deadlines.extension_apply(
        user=world.municipality_user,
        submitter=world.municipality,
        deadline=kpr_deadline,
        requested_date=D(2031, 1, 31),
        justification="Glemte fristen.",
        now=on_the_last_evening,
    )
    assert not extension.applied_late


def test_a_past_date_cannot_be_asked_for(world, kpr_deadline):
    with translation.override("en"), pytest.raises(ValidationError, match="cannot be in the past"):
        deadlines.extension_apply(
            user=world.municipality_user,
            submitter=world.municipality,
            deadline=kpr_deadline,
            requested_date=D(2031, 2, 1),
            justification="Sent ute.",
            now=datetime.datetime(2031, 2, 10, 12, tzinfo=OSLO),
        )


@pytest.mark.parametrize("actor", ["staff_user", "vendor_user", "outsider", "specialist_user"])
def test_only_members_apply(world, kpr_deadline, actor):
    """Staff and the vendor may read the municipality's page but not apply for it; others get 404."""
    client = client_for(getattr(world, actor))
    response = client.post(apply_url(world.municipality), application(kpr_deadline))
    assert response.status_code == 404
    assert not Extension.objects.exists()
    with pytest.raises(PermissionDenied):
        deadlines.extension_apply(
            user=getattr(world, actor),
            submitter=world.municipality,
            deadline=kpr_deadline,
            requested_date=D(2031, 2, 15),
            justification="På vegne av kommunen",
        )


@pytest.mark.parametrize(
    ("actor", "status"),
    [("municipality_user", 200), ("vendor_user", 200), ("staff_user", 200), ("specialist_user", 404),
     ("outsider", 404)],
)  # fmt: skip
def test_who_sees_the_deadline_page(world, kpr_deadline, actor, status):
    response = client_for(getattr(world, actor)).get(page_url(world.municipality))
    assert response.status_code == status
    if status == 200:
        # Only members get the form.
        assert (b'name="justification"' in response.content) == (actor == "municipality_user")


# -- withdrawing -------------------------------------------------------------------------------------


def test_the_submitter_withdraws_an_open_request_and_the_row_is_kept(world, kpr_deadline):
    extension = ExtensionFactory(
        submitter=world.municipality, deadline=kpr_deadline, requested_by=world.municipality_user
    )
    url = reverse("deadlines:extension_withdraw", args=[world.municipality.pk, extension.pk])
    client = client_for(world.municipality_user)
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302
    extension.refresh_from_db()
    assert extension.status == Extension.Status.WITHDRAWN
    assert extension.withdrawn_by == world.municipality_user
    assert extension.withdrawn_at is not None
    # Not twice, and not after a decision.
    client.post(url)
    extension.refresh_from_db()
    assert extension.status == Extension.Status.WITHDRAWN
    with pytest.raises(ValidationError):
        deadlines.extension_withdraw(user=world.municipality_user, extension=extension)


def test_another_tenants_extension_is_404(world, kpr_deadline, npr_deadline):
    theirs = ExtensionFactory(submitter=world.specialist, deadline=npr_deadline)
    client = client_for(world.municipality_user)
    # Through the municipality's own submitter id, and through the specialist's.
    for submitter_id in (world.municipality.pk, world.specialist.pk):
        url = reverse("deadlines:extension_withdraw", args=[submitter_id, theirs.pk])
        assert client.post(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Extension.Status.OPEN
    # The vendor and staff can read the page, but not withdraw.
    own = ExtensionFactory(submitter=world.municipality, deadline=kpr_deadline)
    for actor in ("vendor_user", "staff_user"):
        url = reverse("deadlines:extension_withdraw", args=[world.municipality.pk, own.pk])
        assert client_for(getattr(world, actor)).post(url).status_code == 404
    own.refresh_from_db()
    assert own.status == Extension.Status.OPEN


# -- deciding ----------------------------------------------------------------------------------------


def decide_url(extension):
    return reverse("deadlines:extension_decide", args=[extension.pk])


@pytest.mark.parametrize("actor", ["municipality_user", "vendor_user", "specialist_user", "outsider"])
def test_only_registry_staff_see_the_queue_and_decide(world, kpr_deadline, actor):
    extension = ExtensionFactory(submitter=world.municipality, deadline=kpr_deadline)
    client = client_for(getattr(world, actor))
    assert client.get(reverse("deadlines:extension_queue")).status_code == 404
    assert client.get(decide_url(extension)).status_code == 404
    response = client.post(decide_url(extension), {"decision": "grant", "granted_date": "2031-02-15"})
    assert response.status_code == 404
    extension.refresh_from_db()
    assert extension.status == Extension.Status.OPEN
    with pytest.raises(PermissionDenied):
        deadlines.extension_decide(user=getattr(world, actor), extension=extension, grant=True)


def test_staff_grant_with_another_date_and_the_submitter_sees_it(
    world, kpr_deadline, django_capture_on_commit_callbacks
):
    extension = ExtensionFactory(
        submitter=world.municipality, deadline=kpr_deadline, requested_by=world.municipality_user
    )
    staff = client_for(world.staff_user)
    assert staff.get(decide_url(extension)).status_code == 200
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff.post(
            decide_url(extension), {"decision": "grant", "granted_date": "2031-02-01", "reason": "Innvilget kortere."}
        )
    assert response.status_code == 302
    assert len(callbacks) == 1  # the e-mail task is enqueued after the commit
    extension.refresh_from_db()
    assert extension.status == Extension.Status.GRANTED
    assert extension.granted_date == D(2031, 2, 1)
    assert extension.previous_date == D(2031, 1, 15)
    assert extension.decided_by == world.staff_user
    assert extension.decided_at is not None
    effective = deadlines.effective_deadline(submitter=world.municipality, deadline=kpr_deadline)
    assert effective.date == D(2031, 2, 1)
    page = client_for(world.municipality_user).get(page_url(world.municipality), {"aar": "2030"})
    row = next(r for r in page.context["rows"] if r.deadline == kpr_deadline)
    assert row.effective.is_extended
    with translation.override("nb"):
        assert "1. februar 2031" in page.content.decode()
    # A decided request cannot be decided again.
    response = staff.post(decide_url(extension), {"decision": "refuse", "reason": "Angrer"})
    assert response.status_code == 302
    extension.refresh_from_db()
    assert extension.status == Extension.Status.GRANTED


def test_a_refusal_needs_a_reason(world, kpr_deadline):
    extension = ExtensionFactory(submitter=world.municipality, deadline=kpr_deadline)
    staff = client_for(world.staff_user)
    response = staff.post(decide_url(extension), {"decision": "refuse", "reason": " "})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    extension.refresh_from_db()
    assert extension.status == Extension.Status.OPEN
    response = staff.post(decide_url(extension), {"decision": "refuse", "reason": "Fristen er lovpålagt."})
    assert response.status_code == 302
    extension.refresh_from_db()
    assert (extension.status, extension.decision_reason) == (Extension.Status.REFUSED, "Fristen er lovpålagt.")
    assert extension.granted_date is None
    assert deadlines.effective_deadline(submitter=world.municipality, deadline=kpr_deadline).date == D(2031, 1, 15)


def test_a_granted_date_must_be_after_the_old_deadline(world, kpr_deadline):
    extension = ExtensionFactory(submitter=world.municipality, deadline=kpr_deadline)
    response = client_for(world.staff_user).post(
        decide_url(extension), {"decision": "grant", "granted_date": "2031-01-15"}
    )
    assert response.status_code == 200
    assert "granted_date" in response.context["form"].errors
    extension.refresh_from_db()
    assert extension.is_open


def test_a_withdrawn_request_cannot_be_granted(world, kpr_deadline):
    extension = ExtensionFactory(submitter=world.municipality, deadline=kpr_deadline)
    deadlines.extension_withdraw(user=world.municipality_user, extension=Extension.objects.get(pk=extension.pk))
    with pytest.raises(ValidationError):
        deadlines.extension_decide(user=world.staff_user, extension=extension, grant=True)
    extension.refresh_from_db()
    assert extension.status == Extension.Status.WITHDRAWN


def test_the_queue_is_oldest_first_filtered_and_paginated(world, kpr_deadline, npr_deadline, monkeypatch):
    from submissions import views_deadlines

    monkeypatch.setattr(views_deadlines, "EXTENSION_PAGE_SIZE", 2)
    now = timezone.now()
    oldest = ExtensionFactory(
        submitter=world.specialist, deadline=npr_deadline, requested_at=now - datetime.timedelta(days=3)
    )
    middle = ExtensionFactory(
        submitter=world.municipality, deadline=kpr_deadline, requested_at=now - datetime.timedelta(days=2)
    )
    newest = ExtensionFactory(
        submitter=world.other_specialist, deadline=npr_deadline, requested_at=now - datetime.timedelta(days=1)
    )
    ExtensionFactory(
        submitter=world.municipality,
        deadline=DeadlineFactory(register="KPR", submitter_kinds=["municipality"], year=2031,
                                 period_end=D(2031, 12, 31), due_date=D(2032, 1, 15)),
        status=Extension.Status.WITHDRAWN,
    )  # fmt: skip
    client = client_for(world.staff_user)
    url = reverse("deadlines:extension_queue")
    first = client.get(url)
    assert list(first.context["page"].object_list) == [oldest, middle]
    assert first.context["page"].paginator.count == 3  # open requests by default
    assert "status=open&amp;side=2" in first.content.decode()
    assert list(client.get(url, {"side": "2"}).context["page"].object_list) == [newest]
    assert list(client.get(url, {"register": "KPR"}).context["page"].object_list) == [middle]
    assert client.get(url, {"status": ""}).context["page"].paginator.count == 4
    assert client.get(url, {"status": "withdrawn"}).context["page"].paginator.count == 1


def test_the_queue_uses_a_constant_number_of_queries(world, npr_deadline, django_assert_max_num_queries):
    for _ in range(15):
        ExtensionFactory(deadline=npr_deadline, requested_by=UserFactory())
    client = client_for(world.staff_user)
    with django_assert_max_num_queries(6):
        client.get(reverse("deadlines:extension_queue"))


# -- the decision e-mail -----------------------------------------------------------------------------


def test_the_decision_is_mailed_in_norwegian_to_the_type_1_contacts_once(
    world, kpr_deadline, eager_celery, django_capture_on_commit_callbacks
):
    ContactFactory(submitter=world.municipality, name="Tor Teknisk", email="tor@oslo.kommune.no", contact_types=[1, 15])
    ContactFactory(submitter=world.municipality, name="Vera Leverandør", email="vera@gerica.no", contact_types=[15])
    ContactFactory(submitter=world.municipality, name="Uten E-post", email="", contact_types=[1])
    ContactFactory(submitter=world.specialist, email="annen@example.no", contact_types=[1])
    kari = world.municipality.contacts.get(name="Kari Teknisk")
    extension = ExtensionFactory(submitter=world.municipality, deadline=kpr_deadline)

    with django_capture_on_commit_callbacks(execute=True):
        deadlines.extension_decide(
            user=world.staff_user, extension=extension, grant=True, granted_date=D(2031, 2, 1), reason="OK."
        )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == sorted([kari.email, "tor@oslo.kommune.no"])
    assert message.subject == "Utsatt frist innvilget: KPR 1.1.–31.12.2030"
    assert "15. januar 2031 kl. 23.59" in message.body
    assert "1. februar 2031 kl. 23.59" in message.body
    assert "OK." in message.body
    # The task runs again (a retry, a duplicate delivery): no second e-mail.
    deadlines.extension_decision_mail(extension_id=extension.pk)
    assert len(mail.outbox) == 1


def test_a_refusal_is_mailed_with_its_reason(world, kpr_deadline, eager_celery, django_capture_on_commit_callbacks):
    extension = ExtensionFactory(submitter=world.municipality, deadline=kpr_deadline)
    with django_capture_on_commit_callbacks(execute=True):
        deadlines.extension_decide(user=world.staff_user, extension=extension, grant=False, reason="For sent.")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("Søknad om utsatt frist avslått")
    assert "For sent." in mail.outbox[0].body


def test_a_failed_send_gives_the_claim_back_for_the_retry(world, kpr_deadline, monkeypatch):
    extension = ExtensionFactory(
        submitter=world.municipality,
        deadline=kpr_deadline,
        status=Extension.Status.GRANTED,
        granted_date=D(2031, 2, 1),
        decided_at=timezone.now(),
    )

    def broken(self, *args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", broken)
    with pytest.raises(OSError):
        deadlines.extension_decision_mail(extension_id=extension.pk)
    extension.refresh_from_db()
    assert extension.decision_mailed_at is None
    monkeypatch.undo()
    assert deadlines.extension_decision_mail(extension_id=extension.pk) == 1
    assert len(mail.outbox) == 1
