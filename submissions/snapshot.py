"""The daily view's snapshot: received activity counted per submitter, register, year, month and category.

Live activity records (kind "activity", not deleted, with an event date) are counted in the database with
INSERT ... SELECT, never row by row in Python. The unit of work is (submitter, register, year): its rows
in SnapshotMonth and SnapshotYear are deleted and computed again from the records, in one transaction.

- A full rebuild recomputes everything (the first run, and registry staff's "refresh all").
- The nightly run recomputes the units with records received since the previous global run (less an
  overlap, see `DAILY_VIEW_SNAPSHOT_OVERLAP_MINUTES`): the years of the records' event dates now, and of
  their earlier versions (a changed event date can move a record to another year).
- Registry staff can refresh one submitter (all its years) on demand.

Distinct users (patient_ref) can't be added up over months or categories, so every distinct count is
taken from the records: per month, per year, and per year from 1 January through each month.

The SQL is the same on PostgreSQL and SQLite but for a few expressions (`_Dialect`). On PostgreSQL a full
rebuild aggregates into temporary tables first, because only CREATE TABLE AS runs the aggregation in
parallel (INSERT ... SELECT never does).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from portal.models import Submitter
from submissions.models import (
    SNAPSHOT_DIMENSIONS,
    MessageKind,
    Record,
    RecordVersion,
    SnapshotMonth,
    SnapshotRun,
    SnapshotYear,
)

logger = logging.getLogger(__name__)

MONTHS = range(1, 13)
GLOBAL_SCOPES = (SnapshotRun.Scope.NIGHTLY, SnapshotRun.Scope.ALL)
# Serialises snapshot runs on PostgreSQL (two runs deleting and inserting the same unit would collide).
ADVISORY_LOCK_KEY = 0x5A4E_0004
SCOPE_TABLE = "daily_snapshot_scope"
SNAPSHOT_WORK_MEM_MB = 256


# -- SQL -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dialect:
    postgresql: bool

    def year(self, column: str) -> str:
        if self.postgresql:
            return f"CAST(EXTRACT(YEAR FROM {column}) AS integer)"
        return f"CAST(strftime('%%Y', {column}) AS integer)"  # every query using it has parameters

    def month(self, column: str) -> str:
        if self.postgresql:
            return f"CAST(EXTRACT(MONTH FROM {column}) AS integer)"
        return f"CAST(strftime('%%m', {column}) AS integer)"

    def json_text(self, column: str, key: str) -> str:
        if self.postgresql:
            return f"({column} ->> '{key}')"
        return f"json_extract({column}, '$.{key}')"


def _dialect() -> _Dialect:
    return _Dialect(postgresql=connection.vendor == "postgresql")


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


_RECORD = Record._meta.db_table
_VERSION = RecordVersion._meta.db_table
_MONTH = SnapshotMonth._meta.db_table
_YEAR = SnapshotYear._meta.db_table

# (register, dimension) pairs as a derived table: each record counts once per breakdown of its register.
_DIMENSIONS_SQL = " UNION ALL ".join(
    f"SELECT '{register}' AS register, '{dimension}' AS dimension"
    for register, dimensions in SNAPSHOT_DIMENSIONS.items()
    for dimension in dimensions
)
_CATEGORY_SQL = (
    "CASE d.dimension WHEN 'service_code' THEN b.service_code WHEN 'contact_kind' THEN b.contact_kind "
    "WHEN 'icd_chapter' THEN b.icd_chapter ELSE '' END"
)
_MONTH_COLUMNS = (
    "submitter_id, register, year, month, dimension, category, records, users, first_received_at, last_received_at"
)
_YEAR_COLUMNS = (
    "submitter_id, register, year, dimension, category, records, users, "
    + ", ".join(f"users_through_{month}" for month in MONTHS)
    + ", first_received_at, last_received_at"
)


def _live_records_sql(dialect: _Dialect, *, scoped: bool) -> str:
    """Live activity records with their year and month; restricted to the scope table's units if scoped."""
    if scoped:
        return (
            "SELECT r.submitter_id, r.register, s.year AS year, "  # noqa: S608 (no user input in identifiers)
            f"{dialect.month('r.event_date')} AS month, r.service_code, r.contact_kind, r.icd_chapter, "
            "r.patient_ref, r.first_received_at, r.last_received_at "
            f"FROM {_RECORD} r JOIN {SCOPE_TABLE} s ON s.submitter_id = r.submitter_id "
            "AND s.register = r.register AND r.event_date >= s.date_from AND r.event_date < s.date_to "
            "WHERE r.kind = %s AND r.is_deleted = %s"
        )
    return (
        f"SELECT r.submitter_id, r.register, {dialect.year('r.event_date')} AS year, "  # noqa: S608
        f"{dialect.month('r.event_date')} AS month, r.service_code, r.contact_kind, r.icd_chapter, "
        "r.patient_ref, r.first_received_at, r.last_received_at "
        f"FROM {_RECORD} r WHERE r.kind = %s AND r.is_deleted = %s AND r.event_date IS NOT NULL"
    )


def _month_select(dialect: _Dialect, *, scoped: bool) -> str:
    return (
        f"SELECT b.submitter_id, b.register, b.year, b.month, d.dimension, {_CATEGORY_SQL} AS category, "  # noqa: S608
        "COUNT(*) AS records, COUNT(DISTINCT b.patient_ref) AS users, "
        "MIN(b.first_received_at) AS first_received_at, MAX(b.last_received_at) AS last_received_at "
        f"FROM ({_live_records_sql(dialect, scoped=scoped)}) b "
        f"JOIN ({_DIMENSIONS_SQL}) d ON d.register = b.register "
        f"GROUP BY b.submitter_id, b.register, b.year, b.month, d.dimension, {_CATEGORY_SQL}"
    )


def _year_select(dialect: _Dialect, *, scoped: bool) -> str:
    """Per user first the month they first appear in; then the year's distinct users through each month."""
    through = ", ".join(
        f"SUM(CASE WHEN p.first_month <= {month} THEN 1 ELSE 0 END) AS users_through_{month}" for month in MONTHS
    )
    return (
        "SELECT p.submitter_id, p.register, p.year, p.dimension, p.category, "  # noqa: S608
        f"SUM(p.records) AS records, COUNT(*) AS users, {through}, "
        "MIN(p.first_received_at) AS first_received_at, MAX(p.last_received_at) AS last_received_at "
        "FROM ("
        f"SELECT b.submitter_id, b.register, b.year, d.dimension, {_CATEGORY_SQL} AS category, b.patient_ref, "
        "MIN(b.month) AS first_month, COUNT(*) AS records, "
        "MIN(b.first_received_at) AS first_received_at, MAX(b.last_received_at) AS last_received_at "
        f"FROM ({_live_records_sql(dialect, scoped=scoped)}) b "
        f"JOIN ({_DIMENSIONS_SQL}) d ON d.register = b.register "
        f"GROUP BY b.submitter_id, b.register, b.year, d.dimension, {_CATEGORY_SQL}, b.patient_ref"
        ") p GROUP BY p.submitter_id, p.register, p.year, p.dimension, p.category"
    )


_LIVE = [MessageKind.ACTIVITY, False]


# -- units of work ---------------------------------------------------------------------------------


def _create_scope_table(cursor: Any, dialect: _Dialect) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {SCOPE_TABLE}")
    suffix = " ON COMMIT DROP" if dialect.postgresql else ""
    cursor.execute(
        f"CREATE TEMPORARY TABLE {SCOPE_TABLE} (submitter_id bigint NOT NULL, register varchar(3) NOT NULL, "
        f"year integer NOT NULL, date_from date, date_to date){suffix}"
    )


def _fill_scope(cursor: Any, dialect: _Dialect, units_sql: str, params: list[Any]) -> int:
    """Put the distinct (submitter, register, year) units that `units_sql` selects into the scope table."""
    cursor.execute(
        f"INSERT INTO {SCOPE_TABLE} (submitter_id, register, year) "  # noqa: S608
        f"SELECT DISTINCT u.submitter_id, u.register, u.year FROM ({units_sql}) u WHERE u.year IS NOT NULL",
        params,
    )
    # Dates as text: the same literal works for PostgreSQL's date and SQLite's ISO strings.
    if dialect.postgresql:
        cursor.execute(
            f"UPDATE {SCOPE_TABLE} SET date_from = make_date(year, 1, 1), date_to = make_date(year + 1, 1, 1)"  # noqa: S608
        )
        cursor.execute(f"ANALYZE {SCOPE_TABLE}")  # temporary tables are never analysed automatically
    else:
        cursor.execute(
            f"UPDATE {SCOPE_TABLE} SET date_from = printf('%04d-01-01', year), "  # noqa: S608
            "date_to = printf('%04d-01-01', year + 1)"
        )
    cursor.execute(f"SELECT COUNT(*) FROM {SCOPE_TABLE}")  # noqa: S608
    return cursor.fetchone()[0]


def _changed_units_sql(dialect: _Dialect) -> str:
    """Units with a record received after %s: the year of its event date now and of each earlier version.
    Parameters: (since, kind) twice."""
    version_year = f"CAST(SUBSTR({dialect.json_text('v.data', 'event_date')}, 1, 4) AS integer)"
    return (
        f"SELECT r.submitter_id, r.register, {dialect.year('r.event_date')} AS year "  # noqa: S608
        f"FROM {_RECORD} r WHERE r.last_received_at > %s AND r.kind = %s "
        "UNION "
        f"SELECT r.submitter_id, r.register, {version_year} AS year "
        f"FROM {_RECORD} r JOIN {_VERSION} v ON v.record_id = r.id "
        "WHERE r.last_received_at > %s AND r.kind = %s AND v.data IS NOT NULL"
    )


def _submitter_units_sql(dialect: _Dialect) -> str:
    """Every year the submitter has records in, or had rows in the snapshot for (to remove them)."""
    return (
        f"SELECT r.submitter_id, r.register, {dialect.year('r.event_date')} AS year "  # noqa: S608
        f"FROM {_RECORD} r WHERE r.submitter_id = %s AND r.kind = %s "
        f"UNION SELECT y.submitter_id, y.register, y.year FROM {_YEAR} y WHERE y.submitter_id = %s"
    )


def _recompute_scope(cursor: Any, dialect: _Dialect) -> None:
    for table in (_MONTH, _YEAR):
        cursor.execute(
            f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM {SCOPE_TABLE} s "  # noqa: S608
            f"WHERE s.submitter_id = {table}.submitter_id AND s.register = {table}.register "
            f"AND s.year = {table}.year)"
        )
    cursor.execute(f"INSERT INTO {_MONTH} ({_MONTH_COLUMNS}) {_month_select(dialect, scoped=True)}", _LIVE)
    cursor.execute(f"INSERT INTO {_YEAR} ({_YEAR_COLUMNS}) {_year_select(dialect, scoped=True)}", _LIVE)


def _rebuild_all(cursor: Any, dialect: _Dialect) -> int:
    cursor.execute(f"DELETE FROM {_MONTH}")  # noqa: S608
    cursor.execute(f"DELETE FROM {_YEAR}")  # noqa: S608
    if dialect.postgresql:
        # CREATE TABLE AS may aggregate with parallel workers; INSERT ... SELECT may not.
        for table, columns, select in (
            (_MONTH, _MONTH_COLUMNS, _month_select(dialect, scoped=False)),
            (_YEAR, _YEAR_COLUMNS, _year_select(dialect, scoped=False)),
        ):
            staging = f"{table}_staging"
            cursor.execute(f"DROP TABLE IF EXISTS {staging}")
            cursor.execute(f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS {select}", _LIVE)
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging}")  # noqa: S608
    else:
        cursor.execute(f"INSERT INTO {_MONTH} ({_MONTH_COLUMNS}) {_month_select(dialect, scoped=False)}", _LIVE)
        cursor.execute(f"INSERT INTO {_YEAR} ({_YEAR_COLUMNS}) {_year_select(dialect, scoped=False)}", _LIVE)
    cursor.execute(f"SELECT COUNT(*) FROM (SELECT DISTINCT submitter_id, register, year FROM {_YEAR}) u")  # noqa: S608
    return cursor.fetchone()[0]


def _lock(cursor: Any, dialect: _Dialect) -> None:
    if dialect.postgresql:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        # Grouping millions of rows by user spills to disk with the default 4 MB; one run at a time (the lock).
        cursor.execute(f"SET LOCAL work_mem = '{int(SNAPSHOT_WORK_MEM_MB)}MB'")
    # SQLite: the transaction already holds the database's write lock (transaction_mode IMMEDIATE).


def _param(value: datetime.datetime) -> Any:
    """A datetime as the backend stores it (SQLite compares text: naive UTC)."""
    return connection.ops.adapt_datetimefield_value(value)


# -- the service -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    units: int
    full: bool
    changes_since: datetime.datetime | None
    as_of: datetime.datetime


def snapshot_rebuild(*, now: datetime.datetime | None = None) -> RefreshResult:
    """Recompute the whole snapshot."""
    as_of = now or timezone.now()
    dialect = _dialect()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor, dialect)
        units = _rebuild_all(cursor, dialect)
    return RefreshResult(units=units, full=True, changes_since=None, as_of=as_of)


def snapshot_update_changed(*, since: datetime.datetime, now: datetime.datetime | None = None) -> RefreshResult:
    """Recompute the units with records received after `since`."""
    as_of = now or timezone.now()
    dialect = _dialect()
    units_sql = _changed_units_sql(dialect)
    params = [_param(since), MessageKind.ACTIVITY] * 2
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor, dialect)
        _create_scope_table(cursor, dialect)
        try:
            units = _fill_scope(cursor, dialect, units_sql, params)
            if units:
                _recompute_scope(cursor, dialect)
        finally:
            if not dialect.postgresql:
                cursor.execute(f"DROP TABLE IF EXISTS {SCOPE_TABLE}")
    return RefreshResult(units=units, full=False, changes_since=since, as_of=as_of)


def snapshot_update_submitter(*, submitter_id: int, now: datetime.datetime | None = None) -> RefreshResult:
    """Recompute every year of one submitter."""
    as_of = now or timezone.now()
    dialect = _dialect()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor, dialect)
        _create_scope_table(cursor, dialect)
        try:
            units = _fill_scope(
                cursor, dialect, _submitter_units_sql(dialect), [submitter_id, MessageKind.ACTIVITY, submitter_id]
            )
            if units:
                _recompute_scope(cursor, dialect)
        finally:
            if not dialect.postgresql:
                cursor.execute(f"DROP TABLE IF EXISTS {SCOPE_TABLE}")
    return RefreshResult(units=units, full=False, changes_since=None, as_of=as_of)


def last_global_run() -> SnapshotRun | None:
    return (
        SnapshotRun.objects.filter(status=SnapshotRun.Status.DONE, scope__in=GLOBAL_SCOPES)
        .order_by("-as_of", "-id")
        .first()
    )


def snapshot_run_execute(*, run_id: int) -> SnapshotRun | None:
    """Claim a pending run and do it. Returns None when another worker has it (or it is not pending)."""
    started = timezone.now()
    claimed = SnapshotRun.objects.filter(pk=run_id, status=SnapshotRun.Status.PENDING).update(
        status=SnapshotRun.Status.RUNNING, started_at=started
    )
    if claimed != 1:
        return None
    run = SnapshotRun.objects.get(pk=run_id)
    try:
        if run.scope == SnapshotRun.Scope.SUBMITTER:
            result = snapshot_update_submitter(submitter_id=run.submitter_id, now=started)
        elif run.scope == SnapshotRun.Scope.NIGHTLY and (previous := last_global_run()) is not None:
            overlap = datetime.timedelta(minutes=settings.DAILY_VIEW_SNAPSHOT_OVERLAP_MINUTES)
            result = snapshot_update_changed(since=previous.as_of - overlap, now=started)
        else:
            result = snapshot_rebuild(now=started)
    except Exception as error:
        SnapshotRun.objects.filter(pk=run_id).update(
            status=SnapshotRun.Status.FAILED, finished_at=timezone.now(), error=f"{type(error).__name__}: {error}"
        )
        logger.exception("Snapshot run %s failed", run_id)
        raise
    SnapshotRun.objects.filter(pk=run_id).update(
        status=SnapshotRun.Status.DONE,
        finished_at=timezone.now(),
        changes_since=result.changes_since,
        as_of=result.as_of,
        units=result.units,
    )
    run.refresh_from_db()
    logger.info("Snapshot run %s (%s): %s units in %.1f s", run.pk, run.scope, run.units, run.duration.total_seconds())
    return run


def snapshot_request(*, scope: str, user: Any = None, submitter: Submitter | None = None) -> SnapshotRun:
    """Ask for a refresh; the worker does it after the commit. A request already waiting is reused."""
    if scope == SnapshotRun.Scope.SUBMITTER and submitter is None:
        raise ValueError("A submitter refresh needs the submitter.")
    waiting = SnapshotRun.objects.filter(scope=scope, status=SnapshotRun.Status.PENDING)
    waiting = waiting.filter(submitter=submitter) if submitter is not None else waiting.filter(submitter=None)
    run = waiting.order_by("requested_at").first()
    if run is not None:
        return run
    run = SnapshotRun.objects.create(
        scope=scope,
        submitter=submitter if scope == SnapshotRun.Scope.SUBMITTER else None,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
    )
    from submissions.tasks import refresh_snapshot

    transaction.on_commit(partial(refresh_snapshot.delay, run.pk))
    return run


def snapshot_as_of(*, submitter: Submitter | None = None) -> SnapshotRun | None:
    """The run the numbers come from: the newest finished global run, or a newer refresh of this submitter."""
    condition = Q(scope__in=GLOBAL_SCOPES)
    if submitter is not None:
        condition |= Q(scope=SnapshotRun.Scope.SUBMITTER, submitter=submitter)
    return SnapshotRun.objects.filter(condition, status=SnapshotRun.Status.DONE).order_by("-as_of", "-id").first()


__all__ = [
    "RefreshResult",
    "last_global_run",
    "snapshot_as_of",
    "snapshot_rebuild",
    "snapshot_request",
    "snapshot_run_execute",
    "snapshot_update_changed",
    "snapshot_update_submitter",
]
