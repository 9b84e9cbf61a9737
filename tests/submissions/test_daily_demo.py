"""`seed_demo --records N` fills what arrived consistently: submissions, one version per record, the snapshot."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db.models import Count, F
from django.utils import timezone

from portal.models import Submitter
from submissions.models import ChangeComment, Record, RecordVersion, SnapshotRun, SnapshotYear, Submission
from tests.submissions.snapshot_support import assert_snapshot_matches_live

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--submitters", "450", "--specialists", "40", "--records", "3000", stdout=None)


def test_records_fall_in_this_year_with_last_year_beside(seeded):
    this_year = timezone.localdate().year
    current = Record.objects.filter(event_date__year=this_year).count()
    assert 2700 <= current <= 3300  # the tertial reporters that never delivered a period lose theirs
    assert Record.objects.filter(event_date__year=this_year - 1, register="KPR").exists()
    assert not Record.objects.filter(event_date__gte=timezone.localdate()).exists()
    assert set(Record.objects.values_list("kind", flat=True).distinct()) == {"activity"}


def test_every_record_has_one_version_from_a_submission_of_its_own_submitter(seeded):
    assert RecordVersion.objects.count() == Record.objects.count()
    assert not Record.objects.exclude(versions__version=1).exists()
    assert not Record.objects.exclude(last_submission__submitter_id=F("submitter_id")).exists()
    assert not Record.objects.exclude(last_submission__register=F("register")).exists()
    assert not Record.objects.exclude(last_submission__status__in=["accepted", "accepted_with_errors"]).exists()
    # Each activity message's count is the records it delivered.
    delivered = dict(Record.objects.values_list("last_submission_id").annotate(n=Count("id")).order_by())
    messages = Submission.objects.filter(kind="activity").exclude(status="rejected")
    assert {pk: n for pk, n in messages.values_list("pk", "count_received") if n} == delivered


def test_the_snapshot_is_built_and_matches_the_records(seeded):
    assert SnapshotRun.objects.filter(status="done", scope="all").exists()
    assert_snapshot_matches_live()


def test_the_story_has_large_changes_and_oslos_comment(seeded):
    year = timezone.localdate().year
    oslo = Submitter.objects.get(municipality_number="0301")
    assert not SnapshotYear.objects.filter(submitter=oslo, year=year, dimension="service_code", category="6").exists()
    assert SnapshotYear.objects.filter(submitter=oslo, year=year - 1, dimension="service_code", category="6").exists()
    assert ChangeComment.objects.filter(submitter=oslo, category="6").exists()


def test_reset_removes_records_and_snapshot(seeded):
    call_command("seed_demo", "--reset", "--submitters", "400", "--specialists", "10", "--records", "0", stdout=None)
    assert not Record.objects.exists()
    assert not Submission.objects.exists()
    assert not SnapshotYear.objects.exists()
    assert not SnapshotRun.objects.exists()
