"""The snapshot gives the same numbers as counting the live records: after random (seeded) sequences of
change and full messages sent through the real intake, refreshed incrementally, per submitter and in full."""

from __future__ import annotations

import datetime
import random

import pytest
from django.utils import timezone

from portal.models import Submitter
from submissions.models import Deadline, Record, SnapshotMonth, SnapshotRecord, SnapshotRun, SnapshotYear
from submissions.snapshot import (
    snapshot_rebuild,
    snapshot_run_execute,
    snapshot_update_changed,
    snapshot_update_submitter,
)
from tests.submissions.conftest import YEAR, delete, full_period, kpr_record, npr_record
from tests.submissions.snapshot_support import assert_snapshot_matches_live, live_counts, receive

pytestmark = pytest.mark.django_db

KPR_CODES = ["1", "2", "6", "10", "29"]
NPR_KINDS = ["outpatient", "admission", "day_patient", "indirect"]
CONDITIONS = ["F32.1", "J45", "C50.9", "S72.0", "Z00.0", "F41"]
PATIENTS = [f"p{n}" for n in range(12)]
POOL = [f"r{n}" for n in range(24)]


def _date(rng: random.Random, year: int) -> str:
    day = datetime.date(year, 1, 1) + datetime.timedelta(days=rng.randrange(365))
    return day.isoformat()


def _record(rng: random.Random, submitter: Submitter, record_id: str, year: int) -> dict:
    common = {"patient_ref": rng.choice(PATIENTS), "event_date": _date(rng, year)}
    if submitter.kind == Submitter.Kind.MUNICIPALITY:
        if rng.random() < 0.05:
            return kpr_record(record_id, **common, service_code="12")  # expired since 2019: refused, not applied
        return kpr_record(record_id, **common, service_code=rng.choice(KPR_CODES))
    return npr_record(
        record_id, **common, contact_kind=rng.choice(NPR_KINDS), condition_codes=[rng.choice(CONDITIONS), "Z00.0"]
    )


class Clock:
    """Intake times one minute apart, so that the watermark logic sees a real order."""

    def __init__(self) -> None:
        self.now = timezone.now() - datetime.timedelta(days=1)

    def tick(self) -> datetime.datetime:
        self.now += datetime.timedelta(minutes=1)
        return self.now


def _random_history(rng: random.Random, submitters: list[Submitter], steps: int, *, check_every_refresh: bool):
    clock = Clock()
    snapshot_rebuild(now=clock.tick())
    watermark = clock.now
    for _ in range(steps):
        submitter = rng.choice(submitters)
        action = rng.choices(["change", "full", "refresh", "submitter"], weights=[6, 2, 2, 1])[0]
        if action == "change":
            ids = rng.sample(POOL, rng.randint(1, 6))
            records = [
                delete(record_id)
                if rng.random() < 0.25
                else _record(rng, submitter, record_id, rng.choice([YEAR - 1, YEAR]))
                for record_id in ids
            ]
            receive(submitter, records, now=clock.tick())
        elif action == "full":
            year = rng.choice([YEAR - 1, YEAR])
            ids = rng.sample(POOL, rng.randint(1, 10))
            records = [_record(rng, submitter, record_id, year) for record_id in ids]
            receive(submitter, records, now=clock.tick(), mode="full", period=full_period(year))
        elif action == "refresh":
            as_of = clock.tick()
            snapshot_update_changed(since=watermark, now=as_of)
            watermark = as_of
            if check_every_refresh:
                assert_snapshot_matches_live()
        else:
            snapshot_update_submitter(submitter_id=submitter.pk, now=clock.tick())
    as_of = clock.tick()
    snapshot_update_changed(since=watermark, now=as_of)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_snapshot_equals_live_counts_after_random_change_and_full_messages(world, seed):
    rng = random.Random(seed)
    submitters = [world.municipality, world.specialist, world.other_specialist]
    _random_history(rng, submitters, steps=40, check_every_refresh=True)

    assert Record.objects.filter(is_deleted=True).exists(), "the history should delete something"
    assert SnapshotMonth.objects.exists()
    assert_snapshot_matches_live()
    # And a full rebuild agrees with the incremental result.
    before = live_counts()
    snapshot_rebuild()
    assert_snapshot_matches_live()
    assert live_counts() == before


def test_a_record_moved_to_another_year_leaves_the_old_year(world):
    clock = Clock()
    receive(world.municipality, [kpr_record("a", event_date=f"{YEAR - 1}-12-30")], now=clock.tick())
    snapshot_rebuild(now=clock.tick())
    watermark = clock.now
    assert SnapshotYear.objects.filter(year=YEAR - 1, dimension="total").get().records == 1

    receive(world.municipality, [kpr_record("a", event_date=f"{YEAR}-01-02")], now=clock.tick())
    snapshot_update_changed(since=watermark, now=clock.tick())

    assert not SnapshotYear.objects.filter(year=YEAR - 1).exists()
    assert SnapshotYear.objects.filter(year=YEAR, dimension="total").get().records == 1
    assert_snapshot_matches_live()


def test_deleting_every_record_empties_the_submitters_snapshot(world):
    clock = Clock()
    receive(world.municipality, [kpr_record("a"), kpr_record("b", service_code="6")], now=clock.tick())
    snapshot_rebuild(now=clock.tick())
    watermark = clock.now
    assert SnapshotMonth.objects.filter(submitter=world.municipality).count() == 3  # total, 10, 6

    receive(world.municipality, [delete("a"), delete("b")], now=clock.tick())
    snapshot_update_changed(since=watermark, now=clock.tick())

    assert not SnapshotMonth.objects.filter(submitter=world.municipality).exists()
    assert not SnapshotYear.objects.filter(submitter=world.municipality).exists()


def test_the_incremental_run_leaves_unchanged_submitters_alone(world):
    clock = Clock()
    receive(world.municipality, [kpr_record("a")], now=clock.tick())
    receive(world.specialist, [npr_record("n")], now=clock.tick())
    snapshot_rebuild(now=clock.tick())
    watermark = clock.now
    specialist_rows = set(SnapshotMonth.objects.filter(submitter=world.specialist).values_list("id", flat=True))

    receive(world.municipality, [kpr_record("b", patient_ref="p-other")], now=clock.tick())
    result = snapshot_update_changed(since=watermark, now=clock.tick())

    assert result.units == 1  # the municipality's year only
    assert set(SnapshotMonth.objects.filter(submitter=world.specialist).values_list("id", flat=True)) == specialist_rows
    total = SnapshotYear.objects.get(submitter=world.municipality, dimension="total")
    assert (total.records, total.users) == (2, 2)


def test_a_nightly_run_after_the_copy_was_lost_rebuilds_everything(world):
    """PostgreSQL empties the unlogged copy after a crash; the differences would then count every record again."""
    clock = Clock()
    receive(world.municipality, [kpr_record("a"), kpr_record("b", service_code="6")], now=clock.tick())
    snapshot_rebuild(now=clock.tick())
    SnapshotRun.objects.create(scope=SnapshotRun.Scope.ALL, status=SnapshotRun.Status.DONE, as_of=clock.tick())
    SnapshotRecord.objects.all().delete()  # as after a crash
    receive(world.municipality, [kpr_record("c", patient_ref="p-other")], now=clock.tick())

    run = SnapshotRun.objects.create(scope=SnapshotRun.Scope.NIGHTLY)
    done = snapshot_run_execute(run_id=run.pk)

    assert done.status == SnapshotRun.Status.DONE
    assert done.changes_since is None  # a rebuild, not the differences since the last run
    assert SnapshotRecord.objects.count() == 3
    assert SnapshotYear.objects.get(submitter=world.municipality, dimension="total").records == 3
    assert_snapshot_matches_live()


def test_a_submitter_refresh_after_the_copy_was_lost_rebuilds_everything(world):
    """Refilling one submitter's part of a lost copy would leave the next nightly run a partial copy to apply the
    day's differences to: the others' records received again would be counted twice (found in review)."""
    clock = Clock()
    receive(world.municipality, [kpr_record("a"), kpr_record("b", service_code="6")], now=clock.tick())
    receive(world.specialist, [npr_record("x")], now=clock.tick())
    snapshot_rebuild(now=clock.tick())
    SnapshotRun.objects.create(scope=SnapshotRun.Scope.ALL, status=SnapshotRun.Status.DONE, as_of=clock.tick())
    SnapshotRecord.objects.all().delete()  # as after a crash

    run = SnapshotRun.objects.create(scope=SnapshotRun.Scope.SUBMITTER, submitter=world.specialist)
    assert snapshot_run_execute(run_id=run.pk).status == SnapshotRun.Status.DONE
    assert SnapshotRecord.objects.count() == 3, "the whole copy, not only the specialist's record"

    # The municipality sends a record again (in the overlap) and a new one; the nightly run counts each once.
    receive(
        world.municipality,
        [kpr_record("b", service_code="6"), kpr_record("c", patient_ref="p-other")],
        now=clock.tick(),
    )
    run = SnapshotRun.objects.create(scope=SnapshotRun.Scope.NIGHTLY)
    assert snapshot_run_execute(run_id=run.pk).changes_since is not None  # the differences, from a whole copy
    assert SnapshotYear.objects.get(submitter=world.municipality, dimension="total").records == 3
    assert_snapshot_matches_live()


def test_ident_records_and_other_kinds_are_not_counted(world):
    clock = Clock()
    receive(world.municipality, [kpr_record("a")], now=clock.tick())
    receive(world.municipality, None, kind="ident", now=clock.tick())
    snapshot_rebuild(now=clock.tick())
    assert Record.objects.filter(kind="ident").exists()
    assert SnapshotYear.objects.get(dimension="total").records == 1


def test_users_are_distinct_per_month_per_year_and_through_each_month(world):
    """p1 in January and March, p2 in March, for service 10; p1 also for service 6 in March."""
    records = [
        kpr_record("a", patient_ref="p1", event_date=f"{YEAR}-01-10"),
        kpr_record("b", patient_ref="p1", event_date=f"{YEAR}-03-10"),
        kpr_record("c", patient_ref="p2", event_date=f"{YEAR}-03-11"),
        kpr_record("d", patient_ref="p1", event_date=f"{YEAR}-03-12", service_code="6"),
    ]
    receive(world.municipality, records)
    snapshot_rebuild()

    def month(number, dimension, category=""):
        row = SnapshotMonth.objects.get(month=number, dimension=dimension, category=category)
        return row.records, row.users

    assert month(1, "total") == (1, 1)
    assert month(3, "total") == (3, 2)
    assert month(3, "service_code", "10") == (2, 2)
    assert month(3, "service_code", "6") == (1, 1)
    total = SnapshotYear.objects.get(dimension="total")
    assert (total.records, total.users) == (4, 2)
    assert [getattr(total, f"users_through_{m}") for m in (1, 2, 3, 12)] == [1, 1, 2, 2]
    six = SnapshotYear.objects.get(dimension="service_code", category="6")
    assert (six.users_through_2, six.users_through_3) == (0, 1)


def test_npr_is_broken_down_by_contact_kind_and_by_icd_chapter(world):
    records = [
        npr_record("a", patient_ref="p1", contact_kind="outpatient", condition_codes=["F32.1"]),
        npr_record("b", patient_ref="p1", contact_kind="admission", condition_codes=["F41"]),
        npr_record("c", patient_ref="p2", contact_kind="outpatient", condition_codes=["J45"]),
    ]
    receive(world.specialist, records)
    snapshot_rebuild()
    rows = {
        (row.dimension, row.category): (row.records, row.users)
        for row in SnapshotYear.objects.filter(submitter=world.specialist)
    }
    assert rows == {
        ("total", ""): (3, 2),
        ("contact_kind", "outpatient"): (2, 2),
        ("contact_kind", "admission"): (1, 1),
        ("icd_chapter", "V"): (2, 1),
        ("icd_chapter", "X"): (1, 1),
    }


def test_a_refresh_takes_the_same_number_of_queries_for_one_record_or_hundreds(world):
    """Bulk SQL: the statements are the same whether a day brings one record or hundreds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    clock = Clock()
    snapshot_rebuild(now=clock.tick())

    def statements(records, call) -> int:
        watermark = clock.tick()
        receive(world.municipality, records, now=clock.tick())
        with CaptureQueriesContext(connection) as captured:
            call(watermark)
        return len(captured)

    def nightly(since):
        snapshot_update_changed(since=since, now=clock.tick())

    def one_submitter(_since):
        snapshot_update_submitter(submitter_id=world.municipality.pk)

    one = statements([kpr_record("one")], nightly)
    many = statements([kpr_record(f"r{n}", patient_ref=f"p{n % 40}") for n in range(300)], nightly)
    # The work tables are dropped one by one on SQLite; each deadline's deliveries take a check, a DELETE and an
    # INSERT at most.
    assert one == many <= 60 + 3 * Deadline.objects.count()
    assert statements([kpr_record("two")], one_submitter) == statements(
        [kpr_record(f"s{n}") for n in range(200)], one_submitter
    )
    assert SnapshotYear.objects.get(submitter=world.municipality, dimension="total").records == 502
    assert_snapshot_matches_live()


def test_the_snapshot_agrees_with_the_activity_workbooks_figures(world):
    """feedback.selectors.activity_figures counts live records for the activity workbook; same definitions."""
    selectors = pytest.importorskip("feedback.selectors")
    rng = random.Random(7)
    _random_history(rng, [world.municipality, world.specialist], steps=25, check_every_refresh=False)
    for submitter, register in ((world.municipality, "KPR"), (world.specialist, "NPR")):
        for year in (YEAR - 1, YEAR):
            figures = selectors.activity_figures(submitter=submitter, register=register, year=year, codes=False)
            total = SnapshotYear.objects.filter(
                submitter=submitter, register=register, year=year, dimension="total"
            ).first()
            assert (figures.total.records, figures.total.patients) == (
                (total.records, total.users) if total else (0, 0)
            )
            months = {
                row.month: (row.records, row.users)
                for row in SnapshotMonth.objects.filter(
                    submitter=submitter, register=register, year=year, dimension="total"
                )
            }
            assert {month: (t.records, t.patients) for month, t in figures.by_month.items()} == months
