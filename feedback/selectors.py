"""Reads for feedback: the activity figures the workbook is built from, the ident check, and the feedback
a user may see (scoped through portal.access).

`activity_figures` counts the live records in SQL. The daily view (submissions/snapshot*) must give the same
numbers: both count Record rows with is_deleted=False and kind="activity", by event_date's year and month,
per category (KPR: service_code; NPR: contact_kind and icd_chapter), records and distinct patient_ref.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import ExtractMonth
from django.http import Http404

from feedback.models import EmailDelivery, FeedbackReport, MonthlyPassword, SmsOutbox
from portal import access
from portal.models import ContactPerson, Submitter
from submissions.models import MessageKind, Record, Submission

# The daily view's breakdowns (submissions.models.SNAPSHOT_DIMENSIONS): KPR by service code; NPR by contact
# kind and, separately, by ICD-10 chapter. Each record counts once per breakdown of its register.
DIMENSIONS = {"KPR": ("service_code",), "NPR": ("contact_kind", "icd_chapter")}
FINDINGS_LIMIT = 5000
LIST_LIMIT = 1000


@dataclass(frozen=True)
class Tally:
    records: int = 0
    patients: int = 0


Category = tuple[str, str]  # (dimension, category), e.g. ("contact_kind", "outpatient"), ("service_code", "10")


@dataclass
class ActivityFigures:
    submitter_id: int
    register: str
    year: int
    total: Tally = field(default_factory=Tally)
    by_month: dict[int, Tally] = field(default_factory=dict)
    by_category: dict[Category, Tally] = field(default_factory=dict)
    # (month, dimension, category) → tally: the daily view's month table.
    cells: dict[tuple[int, str, str], Tally] = field(default_factory=dict)
    # code → (records where it is the main condition, records that carry it anywhere)
    condition_codes: dict[str, tuple[int, int]] = field(default_factory=dict)
    procedure_codes: dict[str, int] = field(default_factory=dict)


def live_activity(*, submitter: Submitter | int, register: str, year: int) -> QuerySet[Record]:
    submitter_id = submitter if isinstance(submitter, int) else submitter.pk
    return Record.objects.filter(
        submitter_id=submitter_id,
        register=register,
        kind=MessageKind.ACTIVITY,
        is_deleted=False,
        event_date__gte=datetime.date(year, 1, 1),
        event_date__lte=datetime.date(year, 12, 31),
    )


def activity_figures(
    *, submitter: Submitter | int, register: str, year: int, codes: bool = True, months: bool = True
) -> ActivityFigures:
    """Records and distinct patients of one submitter, register and year: in total, per month, per category,
    per month and category; and, from the records' data, condition and procedure code counts.
    `months=False` leaves out the monthly figures, `codes=False` the code counts (for last year's column)."""
    submitter_id = submitter if isinstance(submitter, int) else submitter.pk
    if connections[Record.objects.db].vendor == "postgresql":
        return _figures_postgresql(submitter_id, register, [(year, codes, months)])[0]
    return _figures_orm(submitter_id, register, year, codes=codes, months=months)


def activity_figures_with_last_year(
    *, submitter: Submitter | int, register: str, year: int
) -> tuple[ActivityFigures, ActivityFigures]:
    """The workbook's figures: `year` in full, and the year before without months and codes (the comparison
    tab). On PostgreSQL one query gives both."""
    submitter_id = submitter if isinstance(submitter, int) else submitter.pk
    if connections[Record.objects.db].vendor == "postgresql":
        this, last = _figures_postgresql(submitter_id, register, [(year, True, True), (year - 1, False, False)])
        return this, last
    return (
        _figures_orm(submitter_id, register, year, codes=True, months=True),
        _figures_orm(submitter_id, register, year - 1, codes=False, months=False),
    )


def _figures_orm(submitter_id: int, register: str, year: int, *, codes: bool, months: bool) -> ActivityFigures:
    """Through the ORM, a query per breakdown: any database (SQLite has no GROUPING SETS)."""
    records = live_activity(submitter=submitter_id, register=register, year=year)
    figures = ActivityFigures(submitter_id=submitter_id, register=register, year=year)
    tally = {"records": Count("id"), "patients": Count("patient_ref", distinct=True)}
    total = records.aggregate(**tally)
    figures.total = Tally(total["records"], total["patients"])
    if months:
        by_month = records.annotate(month=ExtractMonth("event_date")).values("month").annotate(**tally).order_by()
        figures.by_month = {row["month"]: Tally(row["records"], row["patients"]) for row in by_month}
    for dimension in DIMENSIONS.get(register, ()):
        for row in records.values(dimension).annotate(**tally).order_by():
            figures.by_category[(dimension, row[dimension] or "")] = Tally(row["records"], row["patients"])
        if not months:
            continue
        cells = (
            records.annotate(month=ExtractMonth("event_date")).values("month", dimension).annotate(**tally).order_by()
        )
        for row in cells:
            figures.cells[(row["month"], dimension, row[dimension] or "")] = Tally(row["records"], row["patients"])
    if codes:
        figures.condition_codes, figures.procedure_codes = _code_counts(records)
    return figures


# Codes rows carry these in the GROUPING() column, which is never negative for the breakdowns.
_CONDITION_ROWS, _PROCEDURE_ROWS = -1, -2


def _figures_postgresql(
    submitter_id: int, register: str, years: Sequence[tuple[int, bool, bool]]
) -> list[ActivityFigures]:
    """The same figures as _figures_orm for each (year, codes, months) in one query: the live records of
    those years once, every breakdown by GROUPING SETS, and the codes counted with jsonb_array_elements_text
    (codes are strings: submissions.schema)."""
    dimensions = DIMENSIONS.get(register, ())
    # Column names come from DIMENSIONS, never from input.
    quote = connections[Record.objects.db].ops.quote_name
    dims = [quote(Record._meta.get_field(d).column) for d in dimensions]
    with_months = any(months for _, _, months in years)
    with_codes = [year for year, codes, _ in years if codes]
    sets = ["()", *(f"({d})" for d in dims)]
    if with_months:
        sets += ["(m)", *(f"(m, {d})" for d in dims)]
    # GROUPING() says which set a row belongs to: a bit per expression, set where it is rolled up. Without
    # months, m is no grouping expression (and every row has it rolled up).
    grouped = ", ".join(["m", *dims] if with_months else dims)
    grouping = f"GROUPING({grouped})" if grouped else "0"
    month = "m" if with_months else "NULL"
    nulls = ", ".join(["NULL"] * len(dims[1:]))
    nulls = f", {nulls}" if nulls else ""
    code_parts = []
    for part, key, counts in (
        (_CONDITION_ROWS, "condition_codes", "count(*) FILTER (WHERE e.ord = 1), count(DISTINCT live.id)"),
        (_PROCEDURE_ROWS, "procedure_codes", "count(DISTINCT live.id), NULL"),
    ):
        code_parts.append(
            f"""
            UNION ALL
            SELECT {part}, live.y, NULL, e.code COLLATE "C"{nulls}, {counts}
            FROM live CROSS JOIN LATERAL jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(live.data -> '{key}') = 'array' THEN live.data -> '{key}' END
            ) WITH ORDINALITY AS e(code, ord)
            WHERE live.y = ANY(%(code_years)s)
            GROUP BY live.y, e.code COLLATE "C"
            """  # noqa: S608
        )
    # Identifiers are the model's own columns and the JSON keys are the code's own; values are parameters.
    # The text that is grouped and counted distinct is compared bytewise (COLLATE "C"): the same groups and
    # counts as the database's deterministic collation, at a fraction of the sorting cost.
    sql = f"""
        WITH live AS MATERIALIZED (
            SELECT id, EXTRACT(YEAR FROM event_date)::int AS y, EXTRACT(MONTH FROM event_date)::int AS m,
                patient_ref COLLATE "C" AS patient_ref{"".join(f', {d} COLLATE "C" AS {d}' for d in dims)}
                {", data" if with_codes else ""}
            FROM {Record._meta.db_table}
            WHERE submitter_id = %(submitter)s AND register = %(register)s AND kind = %(kind)s
                AND NOT is_deleted AND event_date >= %(start)s AND event_date <= %(end)s
        )
        SELECT {grouping}, y, {month}{"".join(", " + d for d in dims)}, count(*), count(DISTINCT patient_ref)
        FROM live
        GROUP BY y, GROUPING SETS ({", ".join(sets)})
        {"".join(code_parts) if with_codes else ""}
    """  # noqa: S608
    params = {
        "submitter": submitter_id,
        "register": register,
        "kind": MessageKind.ACTIVITY,
        "start": datetime.date(min(year for year, _, _ in years), 1, 1),
        "end": datetime.date(max(year for year, _, _ in years), 12, 31),
        "code_years": with_codes,
    }
    figures = {year: ActivityFigures(submitter_id=submitter_id, register=register, year=year) for year, _, _ in years}
    wanted = {year: months for year, _, months in years}
    all_dims = (1 << len(dims)) - 1  # GROUPING() bits of the dimensions; the month's is the next one up
    month_bit = 1 << len(dims)
    with connections[Record.objects.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for bits, year, month, *values in rows:
        if year not in figures:
            continue
        target = figures[year]
        months = wanted[year]
        if bits == _CONDITION_ROWS:
            target.condition_codes[values[0]] = (values[-2], values[-1])
            continue
        if bits == _PROCEDURE_ROWS:
            target.procedure_codes[values[0]] = values[-2]
            continue
        if not with_months:
            bits |= month_bit
        tally = Tally(values[-2], values[-1])
        if bits & all_dims == all_dims:
            if bits & month_bit:
                target.total = tally
            elif months:
                target.by_month[month] = tally
            continue
        index = next(i for i in range(len(dims)) if not bits & (1 << (len(dims) - 1 - i)))
        dimension, category = dimensions[index], values[index] or ""
        if bits & month_bit:
            target.by_category[(dimension, category)] = tally
        elif months:
            target.cells[(month, dimension, category)] = tally
    return [figures[year] for year, _, _ in years]


def _code_counts(records: QuerySet[Record]) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    """Counted in Python over a streamed cursor: memory grows with the number of distinct codes (ICD-10 has
    about 14,000), never with the number of records."""
    main: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    procedures: Counter[str] = Counter()
    rows = records.values_list("data__condition_codes", "data__procedure_codes").order_by().iterator(chunk_size=2000)
    for condition_codes, procedure_codes in rows:
        if isinstance(condition_codes, list) and condition_codes:
            main[str(condition_codes[0])] += 1
            anywhere.update({str(code) for code in condition_codes})
        if isinstance(procedure_codes, list):
            procedures.update({str(code) for code in procedure_codes})
    return {code: (main[code], count) for code, count in anywhere.items()}, dict(procedures)


@dataclass(frozen=True)
class FindingRow:
    received_at: datetime.datetime
    message_id: str
    rule_id: str
    severity: str
    record_id: str
    path: str
    message: str


def activity_findings(*, submitter: Submitter | int, register: str, year: int) -> tuple[list[FindingRow], int]:
    """Findings from the receipts of the submitter's activity messages for the year, newest first; at most
    FINDINGS_LIMIT rows, and the number left out."""
    submitter_id = submitter if isinstance(submitter, int) else submitter.pk
    for_year = Q(period_start__year=year) | Q(
        period_start__isnull=True,
        received_at__gte=datetime.datetime(year, 1, 1, tzinfo=datetime.UTC),
        received_at__lt=datetime.datetime(year + 2, 1, 1, tzinfo=datetime.UTC),
    )
    submissions = (
        Submission.objects.filter(
            for_year,
            submitter_id=submitter_id,
            register=register,
            kind=MessageKind.ACTIVITY,
            validate_only=False,
        )
        .exclude(count_errors=0, count_warnings=0)
        .order_by("-received_at", "-id")
        .values_list("received_at", "message_id", "receipt")
    )
    rows: list[FindingRow] = []
    left_out = 0
    for received_at, message_id, receipt in submissions.iterator(chunk_size=50):
        for finding in (receipt or {}).get("findings", []):
            if len(rows) >= FINDINGS_LIMIT:
                left_out += 1
                continue
            rows.append(_finding_row(received_at, str(message_id), finding))
        left_out += int((receipt or {}).get("findings_truncated", 0))
    return rows, left_out


def _finding_row(received_at: datetime.datetime, message_id: str, finding: dict[str, Any]) -> FindingRow:
    return FindingRow(
        received_at=received_at,
        message_id=message_id,
        rule_id=str(finding.get("rule_id", "")),
        severity=str(finding.get("severity", "")),
        record_id=str(finding.get("record_id") or ""),
        path=str(finding.get("path") or ""),
        message=str(finding.get("message", "")),
    )


def submission_findings(submission: Submission) -> list[FindingRow]:
    receipt = submission.receipt or {}
    return [_finding_row(submission.received_at, str(submission.message_id), f) for f in receipt.get("findings", [])]


@dataclass
class IdentFigures:
    ident_records: int = 0
    matched: int = 0
    ident_without_activity: int = 0
    activity_without_ident: int = 0
    activity_without_ident_refs: list[str] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)
    invalid: list[FindingRow] = field(default_factory=list)
    synthetic: list[FindingRow] = field(default_factory=list)


def ident_figures(*, submission: Submission) -> IdentFigures:
    """The identity check behind ident feedback, over what the registry holds for the submitter and register
    after this message: ident records matched to activity, references without ident, and the numbers the
    message's receipt refused (invalid or synthetic; the numbers themselves are never stored)."""
    scope = Record.objects.filter(submitter_id=submission.submitter_id, register=submission.register, is_deleted=False)
    ident = scope.filter(kind=MessageKind.IDENT)
    activity = scope.filter(kind=MessageKind.ACTIVITY)
    figures = IdentFigures()
    figures.ident_records = ident.count()
    figures.matched = ident.filter(Exists(activity.filter(patient_ref=OuterRef("patient_ref")))).count()
    figures.ident_without_activity = figures.ident_records - figures.matched
    without = (
        activity.exclude(Exists(ident.filter(patient_ref=OuterRef("patient_ref"))))
        .values_list("patient_ref", flat=True)
        .distinct()
        .order_by("patient_ref")
    )
    figures.activity_without_ident = without.count()
    figures.activity_without_ident_refs = list(without[:LIST_LIMIT])
    for row in ident.values("data__check").annotate(n=Count("id")).order_by():
        figures.checks[str(row["data__check"] or "")] = row["n"]
    for finding in submission_findings(submission):
        if finding.rule_id == "IDENT-001":
            figures.invalid.append(finding)
        elif finding.rule_id in ("IDENT-002", "IDENT-003"):
            figures.synthetic.append(finding)
    return figures


# -- what a user may see -------------------------------------------------------------------------


def reports_visible_to(user: Any, submitter: Submitter) -> QuerySet[FeedbackReport]:
    kinds = access.feedback_kinds_visible_to(user, submitter)
    return FeedbackReport.objects.filter(submitter=submitter, kind__in=kinds)


def report_list(*, user: Any, submitter: Submitter) -> QuerySet[FeedbackReport]:
    return (
        reports_visible_to(user, submitter)
        .select_related("submission", "requested_by")
        .prefetch_related("email_deliveries")
        .order_by("-created_at", "-id")
    )


def get_report_or_404(user: Any, submitter_id: int, report_id: int) -> tuple[Submitter, FeedbackReport]:
    submitter = access.get_submitter_or_404(user, submitter_id)
    try:
        report = reports_visible_to(user, submitter).get(pk=report_id)
    except FeedbackReport.DoesNotExist:
        raise Http404("No such feedback.") from None
    return submitter, report


def sms_list(*, submitter: Submitter, months: int = 3) -> list[SmsOutbox]:
    """The password SMS of the last `months` months, newest month first."""
    since = (datetime.date.today().replace(day=1) - datetime.timedelta(days=31 * (months - 1))).replace(day=1)
    return list(
        SmsOutbox.objects.filter(submitter=submitter, month__gte=since)
        .select_related("requested_by")
        .order_by("-month", "contact_name", "round", "id")
    )


def password_months(*, submitter: Submitter) -> Iterator[MonthlyPassword]:
    return (
        MonthlyPassword.objects.filter(submitter=submitter)
        .order_by("-month")
        .only("id", "month", "created_at", "erased_at", "submitter_id")
    )


def resend_candidates(*, submitter: Submitter) -> list[ContactPerson]:
    """Contacts who can receive the password: a valid mobile and an e-mail address, routed for some feedback."""
    from portal.readiness import FeedbackKind, can_open_feedback, routed_contacts

    contacts = list(submitter.contacts.all())
    routed: dict[int, ContactPerson] = {}
    for kind in FeedbackKind:
        for contact in routed_contacts(submitter, kind, contacts):
            if can_open_feedback(contact):
                routed[contact.pk] = contact
    return sorted(routed.values(), key=lambda c: (c.name, c.pk))


def delivery_summary(report: FeedbackReport) -> list[EmailDelivery]:
    return list(report.email_deliveries.all())
