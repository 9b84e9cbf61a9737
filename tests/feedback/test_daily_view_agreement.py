"""The activity workbook's numbers equal the daily view's: activity_figures (live records, SQL) against the
snapshot tables the daily view is served from (submissions/snapshot.py), after a random mix of records."""

from __future__ import annotations

import datetime
import random

import pytest

from feedback.selectors import activity_figures
from submissions.models import Record, SnapshotMonth, SnapshotYear
from submissions.snapshot import snapshot_rebuild
from tests.feedback.conftest import YEAR, add_records, npr_row

pytestmark = pytest.mark.django_db


def test_npr_and_kpr_figures_equal_the_snapshot(people, municipality):
    rng = random.Random(11)
    add_records(
        people.submitter,
        [
            npr_row(
                rng.randrange(80),
                rng.randrange(1, 13),
                year=rng.choice([YEAR, YEAR, YEAR - 1]),
                kind=rng.choice(["outpatient", "admission"]),
                codes=rng.choice([("F32.1",), ("J45",), ("S72.0",)]),
                is_deleted=rng.random() < 0.1,
            )
            | {"icd_chapter": rng.choice(["V", "X", "XIX"])}
            for _ in range(500)
        ],
    )
    add_records(
        municipality,
        [
            {
                "patient_ref": f"u{rng.randrange(50)}",
                "event_date": datetime.date(YEAR, rng.randrange(1, 13), 1 + rng.randrange(28)),
                "service_code": rng.choice(["6", "10", "29"]),
                "is_deleted": rng.random() < 0.1,
            }
            for _ in range(300)
        ],
        register="KPR",
    )
    Record.objects.filter(pk__in=Record.objects.order_by("?").values("pk")[:20]).update(is_deleted=True)
    snapshot_rebuild()

    for submitter, register in ((people.submitter, "NPR"), (municipality, "KPR")):
        figures = activity_figures(submitter=submitter, register=register, year=YEAR, codes=False)
        months = SnapshotMonth.objects.filter(submitter=submitter, register=register, year=YEAR)
        assert {(m.month, m.dimension, m.category): (m.records, m.users) for m in months if m.dimension != "total"} == {
            key: (t.records, t.patients) for key, t in figures.cells.items()
        }
        assert {m.month: (m.records, m.users) for m in months if m.dimension == "total"} == {
            month: (t.records, t.patients) for month, t in figures.by_month.items()
        }
        years = SnapshotYear.objects.filter(submitter=submitter, register=register, year=YEAR)
        assert {(y.dimension, y.category): (y.records, y.users) for y in years if y.dimension != "total"} == {
            key: (t.records, t.patients) for key, t in figures.by_category.items()
        }
        [total] = [y for y in years if y.dimension == "total"]
        assert (total.records, total.users) == (figures.total.records, figures.total.patients)
