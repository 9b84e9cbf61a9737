"""Reads for registry staff's overview: the reporting rate per register and deadline, the submitters behind
each number, and the largest year-on-year changes across the municipalities with their comments.

Served from the snapshot: each expected submitter's delivery per deadline (SnapshotDelivery, computed by the
snapshot run with `delivery_sql`, the rule of `selectors_deadlines.accepted_delivery_at` for all submitters at
once) is counted in one query, and one query finds the largest changes. Everyone but registry staff gets 404.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from portal import access
from portal.models import Register, Submitter
from submissions.daily_view import Category, change_flag, comparison_month
from submissions.deadlines import ACCEPTED, OnTimeStatus
from submissions.models import (
    REGISTER_FLAGS,
    ChangeComment,
    Deadline,
    Extension,
    SnapshotDelivery,
    SnapshotDimension,
    SnapshotYear,
    Submission,
)
from submissions.workdays import end_of_day_oslo, start_of_day_oslo

SUBMITTER_PAGE_SIZE = 50
CHANGES_PAGE_SIZE = 25
EXPORT_LIMIT = 10_000

# County numbers (the first two digits of a municipality number), 2020-2023 and from 2024.
COUNTIES = {
    "03": "Oslo",
    "11": "Rogaland",
    "15": "Møre og Romsdal",
    "18": "Nordland",
    "30": "Viken",
    "31": "Østfold",
    "32": "Akershus",
    "33": "Buskerud",
    "34": "Innlandet",
    "38": "Vestfold og Telemark",
    "39": "Vestfold",
    "40": "Telemark",
    "42": "Agder",
    "46": "Vestland",
    "50": "Trøndelag",
    "54": "Troms og Finnmark",
    "55": "Troms",
    "56": "Finnmark",
}
STATUSES = [status.value for status in OnTimeStatus]


def _require_staff(user: Any) -> None:
    if not access.is_registry_staff(user):
        raise Http404("No such page.")


@dataclass(frozen=True)
class OverviewFilters:
    year: int
    register: str = ""
    kind: str = ""
    county: str = ""
    sector: str = ""
    vendor_id: int | None = None

    def submitters(self, user: Any) -> QuerySet[Submitter]:
        """The submitters the filters select (registry staff see all)."""
        submitters = access.submitters_visible_to(user)
        if self.kind:
            submitters = submitters.filter(kind=self.kind)
        if self.county:
            submitters = submitters.filter(
                kind=Submitter.Kind.MUNICIPALITY, municipality_number__startswith=self.county
            )
        if self.sector:
            submitters = submitters.filter(sector=self.sector)
        if self.vendor_id:
            submitters = submitters.filter(epj_vendor_id=self.vendor_id)
        return submitters


# -- reporting rate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineRate:
    deadline: Deadline
    counts: dict[str, int]
    passed: bool

    @property
    def expected(self) -> int:
        return sum(self.counts.values())

    @property
    def on_time(self) -> int:
        return self.counts.get(OnTimeStatus.ON_TIME, 0)

    @property
    def on_time_with_extension(self) -> int:
        return self.counts.get(OnTimeStatus.ON_TIME_WITH_EXTENSION, 0)

    @property
    def late(self) -> int:
        return self.counts.get(OnTimeStatus.LATE, 0)

    @property
    def missing(self) -> int:
        return self.counts.get(OnTimeStatus.NOT_RECEIVED, 0)

    @property
    def received(self) -> int:
        return self.on_time + self.on_time_with_extension + self.late

    @property
    def percent_received(self) -> float | None:
        return 100.0 * self.received / self.expected if self.expected else None


def overview_deadlines(*, user: Any, year: int, register: str = "") -> list[Deadline]:
    _require_staff(user)
    deadlines = Deadline.objects.filter(period_start__year=year).order_by("register", "due_date", "id")
    if register in Register.values:
        deadlines = deadlines.filter(register=register)
    return list(deadlines)


def _adapt(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, datetime.date):
        return connection.ops.adapt_datefield_value(value)
    return value


def expected_submitters(deadline: Deadline) -> QuerySet[Submitter]:
    """The submitters a deadline applies to: its kinds, reporting to its register."""
    return Submitter.objects.filter(kind__in=deadline.submitter_kinds, **{REGISTER_FLAGS[deadline.register]: True})


def delivery_sql(
    deadline: Deadline, expected: QuerySet[Submitter], granted_dates: list[datetime.date]
) -> tuple[str, list[Any]]:
    """SQL selecting (submitter_id, delivered_at, due_at, status) for the `expected` submitters of the deadline:
    the rule of `selectors_deadlines.accepted_delivery_at`, for all of them at once. The snapshot stores it."""
    expected_sql, expected_params = expected.order_by().values("id").query.sql_with_params()
    calendar_due = deadline.due_at
    # Effective deadline: the latest granted extension's date (end of day in Oslo), else the calendar's.
    cases = " ".join("WHEN %s THEN %s" for _ in granted_dates)
    due_expression = f"CASE g.granted_date {cases} ELSE %s END" if granted_dates else "%s"
    due_params: list[Any] = []
    for day in granted_dates:
        due_params += [_adapt(day), _adapt(end_of_day_oslo(day))]
    due_params.append(_adapt(calendar_due))
    kinds = list(deadline.message_kinds)
    submission, extension = Submission._meta.db_table, Extension._meta.db_table
    sql = f"""
        WITH expected AS ({expected_sql}),
        granted AS (
            SELECT e.submitter_id, MAX(e.granted_date) AS granted_date FROM {extension} e
            WHERE e.deadline_id = %s AND e.status = %s GROUP BY e.submitter_id
        ),
        due AS (
            SELECT x.id AS submitter_id, {due_expression} AS due_at
            FROM expected x LEFT JOIN granted g ON g.submitter_id = x.id
        ),
        per_kind AS (
            SELECT d.submitter_id, s.kind,
                   MAX(CASE WHEN s.received_at <= d.due_at THEN s.received_at END) AS by_due,
                   MIN(CASE WHEN s.received_at > d.due_at THEN s.received_at END) AS after_due
            FROM due d JOIN {submission} s ON s.submitter_id = d.submitter_id
            WHERE s.register = %s AND s.status IN (%s, %s) AND s.validate_only = %s
              AND s.kind IN ({", ".join(["%s"] * len(kinds))})
              AND ((s.mode = %s AND s.period_start <= %s AND s.period_end >= %s)
                   OR (s.mode = %s AND s.received_at >= %s AND s.received_at <= d.due_at))
            GROUP BY d.submitter_id, s.kind
        ),
        delivered AS (
            SELECT submitter_id, MAX(COALESCE(by_due, after_due)) AS delivered_at
            FROM per_kind GROUP BY submitter_id HAVING COUNT(*) = %s
        )
        SELECT d.submitter_id, dl.delivered_at, d.due_at,
               CASE WHEN dl.delivered_at IS NULL THEN %s
                    WHEN dl.delivered_at <= %s THEN %s
                    WHEN dl.delivered_at <= d.due_at THEN %s
                    ELSE %s END AS status
        FROM due d LEFT JOIN delivered dl ON dl.submitter_id = d.submitter_id
    """  # noqa: S608 (identifiers are the models' own tables; values are parameters)
    params = [
        *expected_params,
        deadline.pk,
        Extension.Status.GRANTED,
        *due_params,
        deadline.register,
        *ACCEPTED,
        False,
        *kinds,
        Submission.Mode.FULL,
        _adapt(deadline.period_start),
        _adapt(deadline.period_end),
        Submission.Mode.CHANGE,
        _adapt(start_of_day_oslo(deadline.period_start)),
        len(kinds),
        OnTimeStatus.NOT_RECEIVED.value,
        _adapt(calendar_due),
        OnTimeStatus.ON_TIME.value,
        OnTimeStatus.ON_TIME_WITH_EXTENSION.value,
        OnTimeStatus.LATE.value,
    ]
    return sql, params


def granted_dates_by_deadline(deadlines: list[Deadline]) -> dict[int, list[datetime.date]]:
    dates: dict[int, set[datetime.date]] = {deadline.pk: set() for deadline in deadlines}
    rows = (
        Extension.objects.filter(deadline__in=deadlines, status=Extension.Status.GRANTED, granted_date__isnull=False)
        .values_list("deadline_id", "granted_date")
        .distinct()
    )
    for deadline_id, day in rows:
        dates[deadline_id].add(day)
    return {deadline_id: sorted(days) for deadline_id, days in dates.items()}


def _filtered(filters: OverviewFilters, user: Any, alias: str) -> tuple[str, list[Any]]:
    """A condition on `alias`.submitter_id for the filters ('' when they select everyone)."""
    if not (filters.kind or filters.county or filters.sector or filters.vendor_id):
        return "", []
    sql, params = filters.submitters(user).order_by().values("id").query.sql_with_params()
    return f" AND {alias}.submitter_id IN ({sql})", list(params)


def reporting_rates(
    *, user: Any, filters: OverviewFilters, deadlines: list[Deadline], now: datetime.datetime | None = None
) -> list[DeadlineRate]:
    """Expected, on time, on time with extension, late and missing per deadline, from the snapshot: one query."""
    _require_staff(user)
    now = now or timezone.now()
    counts: dict[int, dict[str, int]] = {deadline.pk: {} for deadline in deadlines}
    if deadlines:
        condition, params = _filtered(filters, user, "d")
        placeholders = ", ".join(["%s"] * len(deadlines))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT d.deadline_id, d.status, COUNT(*) FROM {SnapshotDelivery._meta.db_table} d "  # noqa: S608
                f"WHERE d.deadline_id IN ({placeholders}){condition} GROUP BY d.deadline_id, d.status",
                [*(deadline.pk for deadline in deadlines), *params],
            )
            for deadline_id, status, count in cursor.fetchall():
                counts[deadline_id][status] = count
    return [
        DeadlineRate(deadline=deadline, counts=counts[deadline.pk], passed=now > deadline.due_at)
        for deadline in deadlines
    ]


@dataclass(frozen=True)
class SubmitterStatus:
    submitter: Submitter
    delivered_at: datetime.datetime | None
    due_at: datetime.datetime
    status: str


def _datetime(value: Any) -> datetime.datetime | None:
    """Raw SQL gives SQLite's datetimes back as text (naive UTC)."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    parsed = datetime.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def submitters_with_status(
    *,
    user: Any,
    filters: OverviewFilters,
    deadline: Deadline,
    status: str,
    page: int = 1,
    limit: int | None = None,
) -> list[SubmitterStatus]:
    """One page of the submitters behind a number, by name, from the snapshot: two queries."""
    _require_staff(user)
    limit = limit or SUBMITTER_PAGE_SIZE
    if status not in STATUSES:
        raise Http404("No such status.")
    condition, params = _filtered(filters, user, "d")
    offset = (max(1, page) - 1) * limit
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT d.submitter_id, d.delivered_at, d.due_at FROM {SnapshotDelivery._meta.db_table} d "  # noqa: S608
            f"JOIN {Submitter._meta.db_table} p ON p.id = d.submitter_id "
            f"WHERE d.deadline_id = %s AND d.status = %s{condition} ORDER BY p.name, p.id LIMIT %s OFFSET %s",
            [deadline.pk, status, *params, limit, offset],
        )
        rows = cursor.fetchall()
    submitters = Submitter.objects.select_related("epj_vendor").in_bulk([row[0] for row in rows])
    return [
        SubmitterStatus(submitters[submitter_id], _datetime(delivered_at), _datetime(due_at), status)
        for submitter_id, delivered_at, due_at in rows
        if submitter_id in submitters
    ]


# -- the largest changes --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeRow:
    submitter: Submitter
    category: Category
    users: int
    previous_users: int
    comment: ChangeComment | None

    @property
    def change(self) -> int:
        return self.users - self.previous_users

    @property
    def percent(self) -> float | None:
        return 100.0 * self.change / self.previous_users if self.previous_users else None

    @property
    def flag(self) -> str:
        return change_flag(self.users, self.previous_users)


@dataclass(frozen=True)
class Changes:
    year: int
    through_month: int
    rows: list[ChangeRow]
    total: int


def largest_changes(
    *,
    user: Any,
    filters: OverviewFilters,
    today: datetime.date | None = None,
    page: int = 1,
    limit: int = CHANGES_PAGE_SIZE,
) -> Changes:
    """The municipalities' large changes in distinct users per service code against the same months last year,
    largest first, with the comment each gave (newest). Three queries."""
    _require_staff(user)
    today = today or timezone.localdate()
    year = filters.year
    through = comparison_month(year, today)
    if through == 0:
        return Changes(year, through, [], 0)
    municipalities = filters.submitters(user).filter(kind=Submitter.Kind.MUNICIPALITY)
    subquery, sub_params = municipalities.order_by().values("id").query.sql_with_params()
    column = f"users_through_{through}"
    table = SnapshotYear._meta.db_table
    minimum, percent = settings.DAILY_VIEW_LARGE_CHANGE_MIN_USERS, settings.DAILY_VIEW_LARGE_CHANGE_PERCENT
    # Both years in one pass (a category only one of them has counts 0 in the other), rather than joining two
    # sets, where the planner misjudged the sizes and compared every pair (2 s at 60,000 submitters).
    sql = f"""
        WITH pairs AS (
            SELECT submitter_id, category,
                   SUM(CASE WHEN year = %s THEN {column} ELSE 0 END) AS users,
                   SUM(CASE WHEN year = %s THEN {column} ELSE 0 END) AS previous
            FROM {table}
            WHERE register = %s AND dimension = %s AND year IN (%s, %s) AND submitter_id IN ({subquery})
            GROUP BY submitter_id, category
        )
        SELECT submitter_id, category, users, previous, COUNT(*) OVER () AS total
        FROM pairs
        WHERE ABS(users - previous) >= %s AND (previous = 0 OR ABS(users - previous) * 100 >= %s * previous)
        ORDER BY ABS(users - previous) DESC, submitter_id, category
        LIMIT %s OFFSET %s
    """  # noqa: S608
    params = [
        year,
        year - 1,
        Register.KPR,
        SnapshotDimension.SERVICE_CODE,
        year,
        year - 1,
        *sub_params,
        minimum,
        percent,
        limit,
        (max(1, page) - 1) * limit,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return Changes(year, through, [], 0)
    submitter_ids = {row[0] for row in rows}
    submitters = Submitter.objects.in_bulk(submitter_ids)
    comments: dict[tuple[int, str], ChangeComment] = {}
    for comment in (
        ChangeComment.objects.filter(
            submitter_id__in=submitter_ids,
            register=Register.KPR,
            year=year,
            dimension=SnapshotDimension.SERVICE_CODE,
            category__in={row[1] for row in rows},
        )
        .select_related("author")
        .order_by("-created_at", "-id")
    ):
        comments.setdefault((comment.submitter_id, comment.category), comment)
    result = [
        ChangeRow(
            submitter=submitters[submitter_id],
            category=Category(SnapshotDimension.SERVICE_CODE, category),
            users=users,
            previous_users=previous_users,
            comment=comments.get((submitter_id, category)),
        )
        for submitter_id, category, users, previous_users, _total in rows
    ]
    return Changes(year, through, result, rows[0][4])
