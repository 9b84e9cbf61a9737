"""activity_figures counts live records in SQL; it must equal a plain count over the same rows (the daily
view is checked against the live records the same way)."""

from __future__ import annotations

import datetime
import random
from collections import Counter, defaultdict

import pytest

from feedback.selectors import _figures_orm, activity_figures, activity_figures_with_last_year, ident_figures
from submissions.models import Record
from tests.factories import SubmitterFactory
from tests.feedback.conftest import YEAR, add_records, finding, make_submission, npr_row

pytestmark = pytest.mark.django_db


def _expected(records, dimensions=("contact_kind", "icd_chapter")):
    by_month, by_category, cells = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in records:
        by_month[r.event_date.month].append(r.patient_ref)
        for dimension in dimensions:
            by_category[(dimension, getattr(r, dimension))].append(r.patient_ref)
            cells[(r.event_date.month, dimension, getattr(r, dimension))].append(r.patient_ref)

    def tally(refs):
        return (len(refs), len(set(refs)))

    return (
        tally([r.patient_ref for r in records]),
        {k: tally(v) for k, v in by_month.items()},
        {k: tally(v) for k, v in by_category.items()},
        {k: tally(v) for k, v in cells.items()},
    )


def test_figures_equal_a_plain_count_of_live_records(people):
    rng = random.Random(7)
    rows = []
    for _i in range(400):
        rows.append(
            npr_row(
                rng.randrange(60),
                rng.randrange(1, 13),
                kind=rng.choice(["outpatient", "admission", "day_treatment"]),
                codes=rng.choice([("F32.1", "Z63.0"), ("J45",), ("S72.0", "F32.1")]),
                is_deleted=rng.random() < 0.1,
            )
        )
    add_records(people.submitter, rows)
    # Noise that must not count: another submitter, another year, ident records, the other register.
    add_records(SubmitterFactory(), [npr_row(1, 1)])
    add_records(people.submitter, [npr_row(1, 1, year=YEAR - 1)])
    add_records(people.submitter, [{"patient_ref": "p1", "check": "valid"}], kind="ident")
    add_records(
        people.submitter,
        [{"patient_ref": "p1", "event_date": datetime.date(YEAR, 2, 2), "service_code": "10"}],
        register="KPR",
    )

    figures = activity_figures(submitter=people.submitter, register="NPR", year=YEAR)

    live = [
        r
        for r in Record.objects.filter(submitter=people.submitter, register="NPR", kind="activity", is_deleted=False)
        if r.event_date.year == YEAR
    ]
    assert len(live) < 400  # some were deleted
    total, by_month, by_category, cells = _expected(live)
    assert (figures.total.records, figures.total.patients) == total
    assert {m: (t.records, t.patients) for m, t in figures.by_month.items()} == by_month
    assert {c: (t.records, t.patients) for c, t in figures.by_category.items()} == by_category
    assert {k: (t.records, t.patients) for k, t in figures.cells.items()} == cells

    main = Counter(r.data["condition_codes"][0] for r in live)
    anywhere = Counter(code for r in live for code in set(r.data["condition_codes"]))
    assert figures.condition_codes == {code: (main[code], anywhere[code]) for code in anywhere}
    assert figures.procedure_codes == {"ZXA10": len(live)}


def test_kpr_figures_are_per_service_code(municipality):
    add_records(
        municipality,
        [
            {"patient_ref": "u1", "event_date": datetime.date(YEAR, 1, 5), "service_code": "10"},
            {"patient_ref": "u1", "event_date": datetime.date(YEAR, 1, 6), "service_code": "10"},
            {"patient_ref": "u2", "event_date": datetime.date(YEAR, 3, 1), "service_code": "6"},
        ],
        register="KPR",
    )
    figures = activity_figures(submitter=municipality, register="KPR", year=YEAR)
    assert figures.by_category[("service_code", "10")].records == 2
    assert figures.by_category[("service_code", "10")].patients == 1
    assert set(figures.by_category) == {("service_code", "10"), ("service_code", "6")}
    assert figures.by_month[1].patients == 1 and figures.by_month[3].records == 1
    assert figures.condition_codes == {} and figures.procedure_codes == {}


def test_ident_figures_match_ident_to_activity_and_list_refused_numbers(people):
    add_records(people.submitter, [npr_row(1, 1), npr_row(2, 2), npr_row(3, 3)])
    add_records(
        people.submitter,
        [
            {"patient_ref": "p1", "check": "valid"},
            {"patient_ref": "p2", "check": "d_number"},
            {"patient_ref": "p9", "check": "valid"},
        ],
        kind="ident",
    )
    submission = make_submission(
        people.submitter,
        kind="ident",
        status="accepted_with_errors",
        findings=[finding("IDENT-001", "p4"), finding("IDENT-002", "p5"), finding("CONTACT-001", None, "warning")],
    )
    figures = ident_figures(submission=submission)
    assert figures.ident_records == 3
    assert figures.matched == 2
    assert figures.ident_without_activity == 1
    assert figures.activity_without_ident == 1 and figures.activity_without_ident_refs == ["p3"]
    assert figures.checks == {"valid": 2, "d_number": 1}
    assert [f.record_id for f in figures.invalid] == ["p4"]
    assert [f.record_id for f in figures.synthetic] == ["p5"]


def test_the_workbooks_one_query_gives_the_same_figures_as_a_query_per_breakdown(people, municipality):
    """activity_figures_with_last_year (on PostgreSQL one query: GROUPING SETS and jsonb code counts) equals
    _figures_orm, the query-per-breakdown path every database runs, for both registers and both years."""
    rng = random.Random(5)
    conditions = [("F32.1", "Z63.0"), ("J45",), ("S72.0", "F32.1", "S72.0"), (), ("Z63.0", "J45")]
    add_records(
        people.submitter,
        [
            npr_row(
                rng.randrange(70),
                rng.randrange(1, 13),
                year=rng.choice([YEAR, YEAR, YEAR - 1, YEAR - 2]),
                kind=rng.choice(["outpatient", "admission", "day_treatment"]),
                codes=rng.choice(conditions),
                is_deleted=rng.random() < 0.1,
                procedure_codes=rng.choice([[], ["ZXA10"], ["ZXA10", "ABC20", "ZXA10"]]),
            )
            | {"icd_chapter": rng.choice(["V", "X", ""])}
            for _ in range(400)
        ],
    )
    add_records(
        municipality,
        [
            {
                "patient_ref": f"u{rng.randrange(40)}",
                "event_date": datetime.date(rng.choice([YEAR, YEAR - 1]), rng.randrange(1, 13), 1 + rng.randrange(28)),
                "service_code": rng.choice(["6", "10", "29", ""]),
                "is_deleted": rng.random() < 0.1,
            }
            for _ in range(200)
        ],
        register="KPR",
    )
    for submitter, register in ((people.submitter, "NPR"), (municipality, "KPR"), (people.submitter, "KPR")):
        this, last = activity_figures_with_last_year(submitter=submitter, register=register, year=YEAR)
        assert this == _figures_orm(submitter.pk, register, YEAR, codes=True, months=True)
        assert last == _figures_orm(submitter.pk, register, YEAR - 1, codes=False, months=False)
        assert activity_figures(submitter=submitter.pk, register=register, year=YEAR - 1, codes=False) == (
            _figures_orm(submitter.pk, register, YEAR - 1, codes=False, months=True)
        )
    this, _ = activity_figures_with_last_year(submitter=people.submitter, register="NPR", year=YEAR)
    assert this.total.records > 100 and len(this.cells) > 30 and len(this.condition_codes) == 4
    assert this.procedure_codes.keys() == {"ZXA10", "ABC20"}
