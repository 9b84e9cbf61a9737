"""The audit log: what is recorded, what never is, that nobody can change it, and staff's search."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from portal import audit
from portal.models import AuditEvent, AuditLogIsAppendOnly, User
from tests.conftest import PASSWORD, client_for
from tests.submissions.test_submission_pages import kpr_message, send

pytestmark = pytest.mark.django_db

IDENTITY_NUMBER = "15057512345"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def events(kind: str | None = None):
    found = AuditEvent.objects.order_by("id")
    return found.filter(kind=kind) if kind else found


# -- recording -------------------------------------------------------------------------------------


def test_record_keeps_who_what_when_and_where(world):
    request = RequestFactory().get(
        "/innsendere/1/", HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    request.user = world.municipality_user
    before = timezone.now()
    event = audit.record(
        request, "download", submitter=world.municipality, object_type="feedback_report", object_id=42, filename="x.zip"
    )
    event.refresh_from_db()
    assert event.at >= before
    assert (event.kind, event.user_id, event.username) == ("download", world.municipality_user.pk, "kommune")
    assert (event.submitter_id, event.object_type, event.object_id) == (world.municipality.pk, "feedback_report", "42")
    assert (event.method, event.path, event.ip, event.user_agent) == (
        "GET",
        "/innsendere/1/",
        "192.0.2.10",
        "Firefox/140",
    )
    assert event.details == {"filename": "x.zip"}


def test_behind_a_proxy_the_address_it_saw_is_kept(world, settings):
    settings.NUM_PROXIES = 1
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    request.user = world.outsider
    # The left entry is the client's own claim; the right one our proxy's observation.
    assert audit.record(request, "sign_in").ip == "198.51.100.7"


def test_secrets_never_reach_the_log(world):
    request = RequestFactory().get(f"/sok/{IDENTITY_NUMBER}/", HTTP_USER_AGENT=f"ua {TOKEN}")
    request.user = world.municipality_user
    event = audit.record(
        request,
        "password_resent",
        password="hunter2hunter2",
        access_token=TOKEN,
        note=f"for {IDENTITY_NUMBER}",
        nested={"client_secret": "s3cret", "items": [IDENTITY_NUMBER, 3]},
    )
    stored = repr(AuditEvent.objects.filter(pk=event.pk).values().get())
    for secret in ("hunter2hunter2", TOKEN, IDENTITY_NUMBER, "s3cret"):
        assert secret not in stored
    assert event.details["password"] == "[removed]"
    assert event.details["note"] == "for [number removed]"


def test_kinds_are_snake_case(world):
    with pytest.raises(ValueError):
        audit.record(None, "Download File")


def test_sign_in_failed_sign_in_and_sign_out_are_recorded(world):
    client = Client(HTTP_USER_AGENT="Test browser")
    client.post(reverse("portal:login"), {"username": "kommune", "password": "not-the-password-123"})
    failed = events("sign_in_failed").get()
    assert (failed.username, failed.user_id, failed.details["method"]) == ("kommune", None, "password")
    assert "not-the-password-123" not in repr(failed.details)
    client.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD})
    signed_in = events("sign_in").get()
    assert (signed_in.user_id, signed_in.details, signed_in.ip) == (
        world.municipality_user.pk,
        {"method": "password"},
        "127.0.0.1",
    )
    assert signed_in.user_agent == "Test browser"
    client.post(reverse("portal:logout"))
    assert events("sign_out").get().user_id == world.municipality_user.pk


def test_views_of_a_submitters_data_are_recorded(world):
    submission = send(world.municipality, kpr_message(world.municipality))
    client = client_for(world.vendor_user)
    client.get(reverse("portal:submitter_detail", args=[world.municipality.pk]))
    client.get(reverse("submissions:submission_list", args=[world.municipality.pk]))
    client.get(reverse("submissions:submission_detail", args=[world.municipality.pk, submission.pk]))
    recorded = list(
        events()
        .exclude(kind="sign_in")
        .values_list("kind", "user_id", "submitter_id", "object_type", "object_id", "path")
    )
    assert recorded == [
        (
            "submitter_viewed",
            world.vendor_user.pk,
            world.municipality.pk,
            "",
            "",
            f"/innsendere/{world.municipality.pk}/",
        ),
        (
            "submissions_viewed",
            world.vendor_user.pk,
            world.municipality.pk,
            "",
            "",
            f"/innsendere/{world.municipality.pk}/innsendinger/",
        ),
        (
            "receipt_viewed",
            world.vendor_user.pk,
            world.municipality.pk,
            "submission",
            str(submission.pk),
            f"/innsendere/{world.municipality.pk}/innsendinger/{submission.pk}/",
        ),
    ]


def test_a_refused_read_is_recorded_with_the_object_and_the_address(world):
    client = client_for(world.municipality_user)
    path = reverse("portal:submitter_detail", args=[world.specialist.pk])
    assert client.get(path, REMOTE_ADDR="203.0.113.5").status_code == 404
    refusal = events("authorization_failed").get()
    assert (refusal.user_id, refusal.object_type, refusal.object_id) == (
        world.municipality_user.pk,
        "submitter",
        str(world.specialist.pk),
    )
    assert (refusal.path, refusal.ip, refusal.method) == (path, "203.0.113.5", "GET")
    assert not events("submitter_viewed").exists()


def test_a_404_from_a_helper_outside_portal_access_is_still_recorded(world):
    from tests.factories import ExtensionFactory

    foreign = ExtensionFactory(submitter=world.specialist)
    client = client_for(world.municipality_user)
    url = reverse("deadlines:extension_withdraw", args=[world.municipality.pk, foreign.pk])
    assert client.post(url).status_code == 404
    refusal = events("authorization_failed").get()
    assert (refusal.object_type, refusal.object_id, refusal.details["view"]) == (
        "extension",
        str(foreign.pk),
        "deadlines:extension_withdraw",
    )


# -- append-only -----------------------------------------------------------------------------------


def test_nobody_can_change_or_delete_an_event_through_the_orm(world):
    event = audit.record(None, "sign_in", user=world.staff_user)
    event.kind = "sign_out"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(kind="sign_out")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.bulk_update([event], ["kind"])
    assert AuditEvent.objects.get(pk=event.pk).kind == "sign_in"


def test_deleting_a_user_leaves_their_events(world):
    audit.record(None, "sign_in", user=world.outsider)
    world.outsider.delete()
    assert events("sign_in").get().username == "utenforstaende"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_postgresql_refuses_update_and_delete_in_sql(world):
    event = audit.record(None, "sign_in", user=world.staff_user)
    for statement in (
        "UPDATE portal_auditevent SET kind = 'x' WHERE id = %s",
        "DELETE FROM portal_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).kind == "sign_in"


def test_the_admin_shows_the_log_read_only(world):
    admin_user = User.objects.create_superuser("admin-test", "admin@example.no", "x" * 16)
    event = audit.record(None, "sign_in", user=world.staff_user)
    client = client_for(admin_user)
    assert client.get("/admin/portal/auditevent/").status_code == 200
    assert client.get("/admin/portal/auditevent/add/").status_code == 403
    change = client.post(f"/admin/portal/auditevent/{event.pk}/change/", {"kind": "sign_out"})
    assert change.status_code == 403
    assert client.post(f"/admin/portal/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).kind == "sign_in"


# -- staff's search ----------------------------------------------------------------------------------


@pytest.fixture
def logged(world):
    """A few events over three days, for two users and two submitters."""
    rows = [
        ("sign_in", world.municipality_user, None, 3),
        ("submitter_viewed", world.municipality_user, world.municipality, 2),
        ("download", world.specialist_user, world.specialist, 1),
        ("authorization_failed", world.specialist_user, None, 0),
    ]
    now = timezone.now()
    for kind, user, submitter, days_ago in rows:
        AuditEvent.objects.create(
            kind=kind,
            user_id=user.pk,
            username=user.username,
            submitter_id=submitter.pk if submitter else None,
            at=now - datetime.timedelta(days=days_ago),
        )
    return now


def search(client, **params):
    response = client.get(reverse("portal:audit_log"), params)
    assert response.status_code == 200
    return [(event.kind, event.username) for event, _name in response.context["rows"]]


def test_staff_search_by_user_kind_submitter_and_dates(world, logged):
    client = client_for(world.staff_user)
    assert search(client, user="spesial") == [("authorization_failed", "spesialist"), ("download", "spesialist")]
    assert search(client, kind="download") == [("download", "spesialist")]
    assert search(client, submitter="oslo") == [("submitter_viewed", "kommune")]
    assert search(client, submitter=world.specialist.org_number) == [("download", "spesialist")]
    today = timezone.localdate(logged)
    three_days_ago = today - datetime.timedelta(days=3)
    two_days_ago = today - datetime.timedelta(days=2)
    assert search(client, date_from=three_days_ago.isoformat(), date_to=two_days_ago.isoformat(), user="kommune") == [
        ("submitter_viewed", "kommune"),
        ("sign_in", "kommune"),
    ]
    page = client.get(reverse("portal:audit_log"), {"kind": "download"}).content.decode()
    assert "Fil lastet ned" in page
    assert world.specialist.name in page
    # The search itself is recorded, with its filters.
    assert events("audit_log_viewed").last().details == {"filters": {"kind": "download"}}


def test_the_search_is_paginated(world, logged, monkeypatch):
    from portal import views_audit

    monkeypatch.setattr(views_audit, "AUDIT_PAGE_SIZE", 1)
    client = client_for(world.staff_user)
    first = client.get(reverse("portal:audit_log"), {"user": "spesialist"})
    assert first.context["page"].paginator.num_pages == 2
    assert [event.kind for event, _ in first.context["rows"]] == ["authorization_failed"]
    assert "user=spesialist&amp;side=2" in first.content.decode()
    fragment = client.get(
        reverse("portal:audit_log"),
        {"user": "spesialist", "side": 2},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="audit-results",
    )
    content = fragment.content.decode()
    assert "<html" not in content
    assert "Fil lastet ned" in content
    assert "Tilgang avvist" not in content


@pytest.mark.parametrize("actor", ["municipality_user", "vendor_user", "outsider"])
def test_only_registry_staff_see_the_log(world, logged, actor):
    user = getattr(world, actor)
    assert client_for(user).get(reverse("portal:audit_log")).status_code == 404
    assert events("authorization_failed").filter(user_id=user.pk, object_type="audit_log").exists()


def test_a_bad_date_range_is_explained(world):
    response = client_for(world.staff_user).get(
        reverse("portal:audit_log"), {"date_from": "2026-02-01", "date_to": "2026-01-01"}
    )
    assert "Sluttdatoen er før startdatoen" in response.content.decode()


def test_extension_decisions_are_recorded(world):
    from tests.factories import DeadlineFactory, ExtensionFactory

    deadline = DeadlineFactory(
        register="KPR",
        submitter_kinds=["municipality"],
        period_start=datetime.date(2030, 1, 1),
        period_end=datetime.date(2030, 12, 31),
        due_date=datetime.date(2031, 1, 15),
    )
    extension = ExtensionFactory(submitter=world.municipality, deadline=deadline, requested_by=world.municipality_user)
    response = client_for(world.staff_user).post(
        reverse("deadlines:extension_decide", args=[extension.pk]),
        {"decision": "grant", "granted_date": "2031-02-01", "reason": "Innvilget."},
    )
    assert response.status_code == 302
    decided = events("extension_decided").get()
    assert (decided.user_id, decided.submitter_id, decided.object_type, decided.object_id) == (
        world.staff_user.pk,
        world.municipality.pk,
        "extension",
        str(extension.pk),
    )
    assert decided.details == {"decision": "granted", "date": "2031-02-01"}


def test_daily_view_downloads_are_recorded(world):
    client = client_for(world.municipality_user)
    url = reverse("submissions:daily:submitter_download", args=[world.municipality.pk, "maaneder", "csv"])
    response = client.get(url)
    assert response.status_code == 200
    download = events("download").get()
    assert (download.user_id, download.submitter_id, download.object_id) == (
        world.municipality_user.pk,
        world.municipality.pk,
        "maaneder",
    )
    assert download.details["filename"].endswith("-maaneder.csv")
