"""The daily view's snapshot: received activity counted per submitter, register, year, month and category.

Live activity records (kind "activity", not deleted, with an event date) are counted in the database, in
bulk SQL, never row by row in Python. Three tables hold the result:

- SnapshotRecord: the snapshot's own copy of each live record's aggregation columns, as counted;
- SnapshotMonth: records, distinct users (patient_ref), first and last received, per month and category;
- SnapshotYear: the same for the year, with distinct users also from January through each month.

Distinct users can't be added up over months or categories, so every distinct count comes from users.

- A full rebuild copies the live records and counts everything (the first run; staff's "refresh all").
- The nightly run compares the records received since the previous run (less an overlap for intake
  transactions still open then) with their copies and applies only the differences: counts change by
  the records added and removed, and distinct users by the users whose presence in a month or year
  changed, found by looking up only those users' copies. Its work grows with the day's changes, not with
  the size of the submitters that changed; and running it twice over the same records changes nothing.
- Registry staff can recompute one submitter on demand.

The SQL is the same on PostgreSQL and SQLite but for a few expressions (`_Dialect`). On PostgreSQL a full
rebuild fills new tables beside the live ones and swaps them in before the commit (submissions/table_swap.py),
with CREATE TABLE AS where it can, because only that runs in parallel.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from portal.models import Submitter
from submissions import table_swap
from submissions.models import (
    SNAPSHOT_DIMENSIONS,
    Deadline,
    Extension,
    MessageKind,
    Record,
    SnapshotDelivery,
    SnapshotMonth,
    SnapshotRecord,
    SnapshotRun,
    SnapshotYear,
    Submission,
)
from submissions.workdays import end_of_day_oslo, start_of_day_oslo

logger = logging.getLogger(__name__)

MONTHS = range(1, 13)
GLOBAL_SCOPES = (SnapshotRun.Scope.NIGHTLY, SnapshotRun.Scope.ALL)
# Serialises snapshot runs on PostgreSQL (two runs changing the same rows would count twice).
ADVISORY_LOCK_KEY = 0x5A4E_0004
SNAPSHOT_WORK_MEM_MB = 256
# The swap at the end of a full rebuild waits for the locks of its tables (readers of the snapshot; writers of
# submitters and deadlines, for the foreign keys) at most this long at a time. While it waits, every page reading the
# snapshot queues behind it: a long report holding a table would stall the portal for as long. It gives the locks
# back, lets the queue through and tries again after a pause; the rebuild fails after the last attempt.
SWAP_LOCK_WAIT_MS = 2000
SWAP_ATTEMPTS = 30
SWAP_PAUSE_SECONDS = 1.0


# -- SQL -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dialect:
    postgresql: bool

    def year(self, column: str) -> str:
        if self.postgresql:
            # date_part (double precision) rather than EXTRACT (numeric since PostgreSQL 14): a third cheaper.
            return f"CAST(date_part('year', {column}) AS integer)"
        return f"CAST(strftime('%%Y', {column}) AS integer)"  # every query using it has parameters

    def month(self, column: str) -> str:
        if self.postgresql:
            return f"CAST(date_part('month', {column}) AS integer)"
        return f"CAST(strftime('%%m', {column}) AS integer)"

    def month_range(self, year: str, month: str) -> tuple[str, str]:
        """The first day of a month given as integers, and of the month after (dates)."""
        if self.postgresql:
            first = f"make_date({year}, {month}, 1)"
            return first, f"CAST({first} + interval '1 month' AS date)"
        first = f"printf('%%04d-%%02d-01', {year}, {month})"  # every query using it has parameters
        return first, f"date({first}, '+1 month')"

    def bytewise(self, column: str) -> str:
        """A text column ordered as the snapshot's keys are (COLLATE "C" on PostgreSQL, migration 0007)."""
        return f'{column} COLLATE "C"' if self.postgresql else column

    def temporary(self, name: str, select: str) -> str:
        """CREATE TABLE AS for a work table that lives as long as the transaction."""
        if self.postgresql:
            return f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS {select}"
        return f"CREATE TEMPORARY TABLE {name} AS {select}"


def _dialect() -> _Dialect:
    return _Dialect(postgresql=connection.vendor == "postgresql")


_RECORD = Record._meta.db_table
_COPY = SnapshotRecord._meta.db_table
_MONTH = SnapshotMonth._meta.db_table
_YEAR = SnapshotYear._meta.db_table

# (register, dimension) pairs as a derived table: each record counts once per breakdown of its register.
_DIMENSIONS_SQL = " UNION ALL ".join(
    f"SELECT '{register}' AS register, '{dimension}' AS dimension"
    for register, dimensions in SNAPSHOT_DIMENSIONS.items()
    for dimension in dimensions
)


def _category(alias: str) -> str:
    return (
        f"CASE d.dimension WHEN 'service_code' THEN {alias}.service_code WHEN 'contact_kind' THEN "
        f"{alias}.contact_kind WHEN 'icd_chapter' THEN {alias}.icd_chapter ELSE '' END"
    )


def _dimensions(alias: str) -> str:
    return f"JOIN ({_DIMENSIONS_SQL}) d ON d.register = {alias}.register"


_COPY_COLUMNS = (
    "record_id, submitter_id, register, year, month, patient_ref, service_code, contact_kind, icd_chapter, "
    "first_received_at, last_received_at"
)
_MONTH_COLUMNS = (
    "submitter_id, register, year, month, dimension, category, records, users, first_received_at, last_received_at"
)
_THROUGH = [f"users_through_{month}" for month in MONTHS]
_YEAR_COLUMNS = (
    "submitter_id, register, year, dimension, category, records, users, "
    + ", ".join(_THROUGH)
    + ", first_received_at, last_received_at"
)
_CELL = ("submitter_id", "register", "year", "month", "dimension", "category")
_YEAR_KEY = ("submitter_id", "register", "year", "dimension", "category")


def _match(left: str, right: str, columns: tuple[str, ...]) -> str:
    return " AND ".join(f"{left}.{column} = {right}.{column}" for column in columns)


def _ordered(dialect: _Dialect, columns: tuple[str, ...]) -> str:
    """ORDER BY terms for `columns` in the order of the snapshot's keys (text bytewise)."""
    text = {"register", "dimension", "category", "patient_ref"}
    return ", ".join(dialect.bytewise(column) if column in text else column for column in columns)


def _record_columns(dialect: _Dialect) -> str:
    """A record's (alias r) columns as the copy has them."""
    return (
        f"r.id AS record_id, r.submitter_id, r.register, {dialect.year('r.event_date')} AS year, "
        f"{dialect.month('r.event_date')} AS month, r.patient_ref, r.service_code, r.contact_kind, r.icd_chapter, "
        "r.first_received_at, r.last_received_at"
    )


def _live_records(dialect: _Dialect, where: str = "") -> str:
    """Live activity records in the copy's columns. Parameters: kind, is_deleted, then `where`'s."""
    return (
        f"SELECT {_record_columns(dialect)} FROM {_RECORD} r "  # noqa: S608
        f"WHERE r.kind = %s AND r.is_deleted = %s AND r.event_date IS NOT NULL {where}"
    )


_LIVE = [MessageKind.ACTIVITY, False]


def _month_select(where: str = "") -> str:
    """Month rows counted from the copy (alias b), optionally restricted by `where`."""
    category = _category("b")
    return (
        f"SELECT b.submitter_id, b.register, b.year, b.month, d.dimension, {category} AS category, "  # noqa: S608
        "COUNT(*) AS records, COUNT(DISTINCT b.patient_ref) AS users, "
        "MIN(b.first_received_at) AS first_received_at, MAX(b.last_received_at) AS last_received_at "
        f"FROM {_COPY} b {_dimensions('b')} {where} "
        f"GROUP BY b.submitter_id, b.register, b.year, b.month, d.dimension, {category}"
    )


def _year_select(where: str = "") -> str:
    """Per user first the month they first appear in; then the year's distinct users through each month."""
    category = _category("b")
    through = ", ".join(
        f"SUM(CASE WHEN p.first_month <= {month} THEN 1 ELSE 0 END) AS users_through_{month}" for month in MONTHS
    )
    return (
        "SELECT p.submitter_id, p.register, p.year, p.dimension, p.category, "  # noqa: S608
        f"SUM(p.records) AS records, COUNT(*) AS users, {through}, "
        "MIN(p.first_received_at) AS first_received_at, MAX(p.last_received_at) AS last_received_at "
        "FROM ("
        f"SELECT b.submitter_id, b.register, b.year, d.dimension, {category} AS category, b.patient_ref, "
        "MIN(b.month) AS first_month, COUNT(*) AS records, "
        "MIN(b.first_received_at) AS first_received_at, MAX(b.last_received_at) AS last_received_at "
        f"FROM {_COPY} b {_dimensions('b')} {where} "
        f"GROUP BY b.submitter_id, b.register, b.year, d.dimension, {category}, b.patient_ref"
        ") p GROUP BY p.submitter_id, p.register, p.year, p.dimension, p.category"
    )


def _lock(cursor: Any, dialect: _Dialect) -> None:
    if dialect.postgresql:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        # Grouping millions of rows by user spills to disk with the default 4 MB; one run at a time (the lock).
        cursor.execute(f"SET LOCAL work_mem = '{int(SNAPSHOT_WORK_MEM_MB)}MB'")
    # SQLite: the transaction already holds the database's write lock (transaction_mode IMMEDIATE).


def _param(value: datetime.datetime) -> Any:
    """A datetime as the backend stores it (SQLite compares text: naive UTC)."""
    return connection.ops.adapt_datetimefield_value(value)


def _drop(cursor: Any, dialect: _Dialect, tables: list[str]) -> None:
    """Work tables go with the transaction on PostgreSQL (ON COMMIT DROP), but a run inside an outer transaction
    (a savepoint) would meet them again, and SQLite keeps them for the connection: drop them before and after."""
    if dialect.postgresql:
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(tables)}")
    else:
        for table in tables:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _count(cursor: Any, sql: str, params: list[Any] | None = None) -> int:
    cursor.execute(sql, params)
    return cursor.fetchone()[0]


# -- full rebuild ----------------------------------------------------------------------------------


# One branch per register and breakdown (register, dimension, column or None for the total). A branch reads one
# register's rows, so the register is a constant and not a grouping key (a text key costs a quarter of the grouping),
# and the five branches are of similar size, which keeps both cores busy to the end.
_BRANCHES = [
    (str(register), str(dimension), None if dimension == "total" else str(dimension))
    for register, dimensions in SNAPSHOT_DIMENSIONS.items()
    for dimension in dimensions
]


def _branches(select: Any) -> str:
    return " UNION ALL ".join(select(register, dimension, column) for register, dimension, column in _BRANCHES)


def _branch_category(column: str | None) -> str:
    # The same type and collation in every branch: only then is the UNION ALL a plain append, which PostgreSQL can
    # give to its parallel workers branch by branch (with a COLLATE on some branches only, all ran in one process).
    expression = column or "''"
    return f'CAST({expression} AS text) COLLATE "C"'


def _user_year_branch(register: str, dimension: str, column: str | None, *, table: str) -> str:
    """One breakdown's year rows: per user (and category) the months they appear in as bits, then per category
    the users in the year, in each month and through each month. Nothing else: the records and times per year
    come from the month rows, and a narrower row is cheaper to group. The users are grouped in the order of the
    copy's index by user, so that a vacuumed copy is read from the index in order without hashing."""
    through = ", ".join(
        f"SUM(CASE WHEN u.months & {(1 << month) - 1} <> 0 THEN 1 ELSE 0 END) AS users_through_{month}"
        for month in MONTHS
    )
    per_month = ", ".join(f"SUM((u.months >> {month - 1}) & 1) AS users_in_{month}" for month in MONTHS)
    category = f", {column} AS category" if column else ""
    return (
        f"SELECT u.submitter_id, '{register}' AS register, u.year, '{dimension}' AS dimension, "  # noqa: S608
        f"{_branch_category('u.category' if column else None)} AS category, COUNT(*) AS users, {through}, {per_month} "
        f"FROM (SELECT submitter_id, year{category}, bit_or(1 << (month - 1)) AS months FROM {table} "
        f"WHERE register = '{register}' GROUP BY submitter_id, year, patient_ref{f', {column}' if column else ''}) u "
        f"GROUP BY u.submitter_id, u.year{', u.category' if column else ''}"
    )


def _month_records(table: str) -> str:
    """Each month's records and received times per category of every breakdown: one pass over each register's rows,
    grouped by all its breakdowns at once (grouping sets, each hashed), rather than one pass per breakdown (9.3-9.9 s
    against 13.6-14.4 s, the same rows)."""
    branches = []
    for register, dimensions in SNAPSHOT_DIMENSIONS.items():
        columns = [str(dimension) for dimension in dimensions if dimension != "total"]
        sets = ", ".join(f"(submitter_id, year, month{f', {column}' if column else ''})" for column in [None, *columns])
        # GROUPING(column) is 0 in the rows grouped by that column: the breakdown; the total's rows have neither.
        dimension = " ".join(f"WHEN GROUPING({column}) = 0 THEN '{column}'" for column in columns)
        dimension = f"CASE {dimension} ELSE 'total' END" if columns else "'total'"
        category = " ".join(f"WHEN GROUPING({column}) = 0 THEN {column}" for column in columns)
        category = _branch_category(f"CASE {category} ELSE '' END" if columns else None)
        branches.append(
            f"SELECT submitter_id, '{register}' AS register, year, month, "  # noqa: S608
            f"{dimension} AS dimension, "
            f"{category} AS category, COUNT(*) AS records, "
            f"MIN(first_received_at) AS first_at, MAX(last_received_at) AS last_at FROM {table} "
            f"WHERE register = '{register}' GROUP BY GROUPING SETS ({sets})"
        )
    return " UNION ALL ".join(branches)


def _copy_rows(cursor: Any, dialect: _Dialect) -> str:
    """The copy of the live records beside the live one (CREATE TABLE AS, read in parallel), without keys yet.
    Returns its name."""
    # Every row goes to the leader, which writes it; by its default costs passing each row on costs more than a worker
    # saves, and the planner reads the records in one process. Workers filtering the records and computing the columns
    # while the leader writes took the copy from 20-26 s to 13-14 s (22.7 million rows).
    cursor.execute("SET LOCAL parallel_tuple_cost = 0")
    cursor.execute("SET LOCAL parallel_setup_cost = 0")
    copy = table_swap.create_as(cursor, _COPY, _live_records(dialect), _LIVE)
    cursor.execute("SET LOCAL parallel_tuple_cost TO DEFAULT")
    cursor.execute("SET LOCAL parallel_setup_cost TO DEFAULT")
    return copy


def _copy_keys(cursor: Any, copy: str) -> None:
    """The copy's primary key and index by user, as the live copy's (1 GB to sort 23 million entries in). Both are
    built as indexes first, which lets the month records be counted from the copy meanwhile (_count_months)."""
    cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
    table_swap.build_keys(cursor, _COPY, copy, readable=True)


def _build_copy(cursor: Any, dialect: _Dialect) -> str:
    """The copy with its keys, in one transaction. Returns its name."""
    copy = _copy_rows(cursor, dialect)
    _copy_keys(cursor, copy)
    return copy


def _set_branch_parallelism(cursor: Any, value: str = "'1TB'") -> None:
    # Each branch whole in one process (a parallel append of the branches): split further, each branch would end in
    # one process merging its workers' halves of millions of groups.
    cursor.execute(f"SET LOCAL min_parallel_table_scan_size = {value}")
    cursor.execute(f"SET LOCAL min_parallel_index_scan_size = {value}")


# A rebuild in steps (_rebuild_in_steps) counts each month's records (_count_months, beside the copy's keys) and
# each year's users (_count_users) into tables, committed, as they are read on other connections than the one that
# wrote them.
_MONTH_COUNTS = "snap_rebuild_months_next"
_USER_COUNTS = "snap_rebuild_users_next"


def _left_behind() -> list[str]:
    """Every table a rebuild in steps commits before its swap: a rebuild that failed, or whose worker died, may have
    left them."""
    tables = [table_swap.next_name(live) for live in (_COPY, _DELIVERY, _MONTH, _YEAR)]
    return [*tables, _MONTH_COUNTS, _USER_COUNTS]


def _count_months(copy: str) -> str:
    """Each month's records per category from the committed copy, into a table of their own, committed; for the
    month and year writes. Returns its name. Like the deliveries (_build_deliveries), it runs beside the rebuild
    and must take no lock the rebuild holds: the copy is only read, with the lock its index builds share."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '1GB'")
        _set_branch_parallelism(cursor)
        cursor.execute(f"DROP TABLE IF EXISTS {_MONTH_COUNTS}")
        cursor.execute(f"CREATE UNLOGGED TABLE {_MONTH_COUNTS} AS {_month_records(copy)}")
    return _MONTH_COUNTS


def _count_users(cursor: Any, copy: str, *, vacuumed: bool, into: str) -> None:
    """Each year's distinct users per category, and in and through each month, from `copy` (built by _build_copy)
    into the work table `into` (created by the caller's CREATE ... TABLE prefix): one pass over users per breakdown."""
    cursor.execute("SET LOCAL work_mem = '1GB'")
    _set_branch_parallelism(cursor)
    if vacuumed:
        # The copy committed and vacuumed: its index by user gives each register's records in user order from the
        # index alone, and grouping them in that order costs half of hashing them (24 s against 45 s).
        cursor.execute("SET LOCAL enable_hashagg = off")
    # CREATE TABLE AS may aggregate with parallel workers; INSERT ... SELECT may not.
    cursor.execute(f"{into} AS {_branches(partial(_user_year_branch, table=copy))}")
    cursor.execute("SET LOCAL enable_hashagg TO DEFAULT")
    _set_branch_parallelism(cursor, "DEFAULT")


def _write_years(cursor: Any, users: str, months: str) -> str:
    """The year table beside the live one, with its keys, from the work tables of users (_count_users) and month
    records (_month_records). Returns its name."""
    cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
    cursor.execute("SET LOCAL work_mem = '1GB'")
    year = table_swap.create_like(cursor, _YEAR)
    cursor.execute(
        f"INSERT INTO {year} ({_YEAR_COLUMNS}) SELECT y.submitter_id, y.register, y.year, y.dimension, y.category, "  # noqa: S608
        f"m.records, y.users, {', '.join(f'y.{column}' for column in _THROUGH)}, m.first_at, m.last_at "
        f"FROM {users} y JOIN (SELECT {', '.join(_YEAR_KEY)}, SUM(records) AS records, "
        f"MIN(first_at) AS first_at, MAX(last_at) AS last_at FROM {months} GROUP BY {', '.join(_YEAR_KEY)}"
        # A submitter's rows together, a year's together within them (see the month rows below).
        f") m ON {_match('m', 'y', _YEAR_KEY)} ORDER BY y.submitter_id, y.register, y.year"
    )
    table_swap.build_keys(cursor, _YEAR, year)
    return year


def _write_months(cursor: Any, users: str, months: str) -> str:
    """The month table beside the live one, with its keys, from the same work tables as _write_years. Returns its
    name."""
    cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
    cursor.execute("SET LOCAL work_mem = '1GB'")
    in_month = " ".join(f"WHEN {month} THEN y.users_in_{month}" for month in MONTHS)
    month = table_swap.create_like(cursor, _MONTH)
    # The planner misjudges the join on five columns by ten times and sorts both sides; hashing the year rows is
    # cheaper.
    cursor.execute("SET LOCAL enable_mergejoin = off")
    cursor.execute(
        f"INSERT INTO {month} ({_MONTH_COLUMNS}) SELECT m.submitter_id, m.register, m.year, m.month, "  # noqa: S608
        f"m.dimension, m.category, m.records, CASE m.month {in_month} END, m.first_at, m.last_at "
        f"FROM {months} m JOIN {users} y ON {_match('y', 'm', _YEAR_KEY)} "
        # A submitter's rows together on few pages: a page reads all of a large submitter's months (Oslo: 500). Within
        # them by year and month: a day's new records fall in the last month or two, so the nightly run rewrites few
        # pages, and each page it changes first after a checkpoint is written whole to the WAL.
        "ORDER BY m.submitter_id, m.register, m.year, m.month"
    )
    cursor.execute("SET LOCAL enable_mergejoin TO DEFAULT")
    table_swap.build_keys(cursor, _MONTH, month)
    return month


def _rebuild_from_copy(cursor: Any, copy: str) -> list[tuple[str, str]]:
    """In one transaction: the month and year tables built beside the live ones from `copy` (built by _build_copy),
    with their keys; returns the (live, new) pairs for _swap at the end of the transaction, the copy's
    among them. One pass over users gives the year's distinct counts and, from the month bits, each month's; a
    second, cheap pass counts each month's records. (_rebuild_in_steps does the same across transactions.)"""
    cursor.execute("DROP TABLE IF EXISTS snap_rebuild_years, snap_rebuild_months")
    # Not vacuumed (VACUUM cannot run in a transaction): the users are hashed.
    _count_users(cursor, copy, vacuumed=False, into="CREATE TEMPORARY TABLE snap_rebuild_years ON COMMIT DROP")
    cursor.execute(f"CREATE TEMPORARY TABLE snap_rebuild_months ON COMMIT DROP AS {_month_records(copy)}")
    # Unanalysed, the planner guessed a quarter of their rows.
    cursor.execute("ANALYZE snap_rebuild_years, snap_rebuild_months")
    year = _write_years(cursor, "snap_rebuild_years", "snap_rebuild_months")
    month = _write_months(cursor, "snap_rebuild_years", "snap_rebuild_months")
    cursor.execute("DROP TABLE IF EXISTS snap_rebuild_years, snap_rebuild_months")
    return [(_COPY, copy), (_MONTH, month), (_YEAR, year)]


def _units(cursor: Any, year: str) -> int:
    return _count(cursor, f"SELECT COUNT(*) FROM (SELECT DISTINCT submitter_id, register, year FROM {year}) u")  # noqa: S608


def _rebuild_all(cursor: Any, dialect: _Dialect) -> tuple[int, list[tuple[str, str]]]:
    """In one transaction. Returns the (submitter, register, year) units and, on PostgreSQL, the tables to swap in
    at the end."""
    if dialect.postgresql:
        # Built beside the live tables, which pages keep reading until the swap.
        swaps = _rebuild_from_copy(cursor, _build_copy(cursor, dialect))
        return _units(cursor, dict(swaps)[_YEAR]), swaps
    # DELETE keeps the old rows visible to readers until the commit (SQLite: one writer at a time anyway).
    for table in (_MONTH, _YEAR, _COPY):
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608
    cursor.execute(f"INSERT INTO {_COPY} ({_COPY_COLUMNS}) {_live_records(dialect)}", _LIVE)
    cursor.execute(f"INSERT INTO {_MONTH} ({_MONTH_COLUMNS}) {_month_select()}")
    cursor.execute(f"INSERT INTO {_YEAR} ({_YEAR_COLUMNS}) {_year_select()}")
    return _units(cursor, _YEAR), []


# -- one submitter ---------------------------------------------------------------------------------


def _recompute_submitter(cursor: Any, dialect: _Dialect, submitter_id: int) -> int:
    for table in (_COPY, _MONTH, _YEAR):
        cursor.execute(f"DELETE FROM {table} WHERE submitter_id = %s", [submitter_id])  # noqa: S608
    cursor.execute(
        f"INSERT INTO {_COPY} ({_COPY_COLUMNS}) {_live_records(dialect, 'AND r.submitter_id = %s')}",
        [*_LIVE, submitter_id],
    )
    cursor.execute(
        f"INSERT INTO {_MONTH} ({_MONTH_COLUMNS}) {_month_select('WHERE b.submitter_id = %s')}",
        [submitter_id],
    )
    cursor.execute(
        f"INSERT INTO {_YEAR} ({_YEAR_COLUMNS}) {_year_select('WHERE b.submitter_id = %s')}",
        [submitter_id],
    )
    return _count(
        cursor,
        f"SELECT COUNT(*) FROM (SELECT DISTINCT register, year FROM {_YEAR} WHERE submitter_id = %s) u",  # noqa: S608
        [submitter_id],
    )


# -- the nightly run: the differences --------------------------------------------------------------

_WORK_TABLES = [
    "snap_changed",
    "snap_old",
    "snap_new",
    "snap_same",
    "snap_users",
    "snap_sides",
    "snap_masks",
    "snap_mask_sums",
    "snap_user_cells",
    "snap_cells",
    "snap_dirty",
    "snap_years",
]
_USER_KEY = ("submitter_id", "register", "year", "patient_ref")
_USER = ", ".join(_USER_KEY)
_SIDE_COLUMNS = "submitter_id, register, year, month, patient_ref, service_code, contact_kind, icd_chapter"
_MONTHS_SQL = " UNION ALL ".join(f"SELECT {month} AS month" for month in MONTHS)


def _month_bits(dialect: _Dialect, condition: str) -> str:
    """The months (bit month - 1) of the rows meeting `condition`, OR-ed together. SQLite has no bit_or; the
    sum of the distinct powers of two is the same number."""
    bit = f"CASE WHEN {condition} THEN 1 << (month - 1) ELSE 0 END"
    return f"bit_or({bit})" if dialect.postgresql else f"SUM(DISTINCT {bit})"


# The nightly run's breakdowns (dimension, column, register): its work tables are small, and one total branch covers
# both registers (the register is in the user key).
_MASK_BRANCHES = [("total", None, None)] + [
    (str(dimension), str(dimension), str(register))
    for register, dimensions in SNAPSHOT_DIMENSIONS.items()
    for dimension in dimensions
    if dimension != "total"
]


def _mask_branch(dialect: _Dialect, dimension: str, column: str | None, register: str | None) -> str:
    """One row per changed user and category of one breakdown: the months they appear in, before and after."""
    category, group, where = (
        column or "''",
        f", {column}" if column else "",
        f"WHERE register = '{register}'" if register else "",
    )
    before, after = _month_bits(dialect, "in_before = 1"), _month_bits(dialect, "in_after = 1")
    return (
        f"SELECT {_USER}, '{dimension}' AS dimension, {category} AS category, "  # noqa: S608
        f"{before} AS before_bits, {after} AS after_bits "
        f"FROM snap_sides {where} GROUP BY {_USER}{group}"
    )


def _apply_changes(cursor: Any, dialect: _Dialect, since: datetime.datetime) -> int:
    """Apply the differences between the records received after `since` and their copies. Returns the number of
    (submitter, register, year) units touched."""
    ts = "CAST(NULL AS timestamp with time zone)" if dialect.postgresql else "NULL"
    # The records received since, as they are now, in one pass over them (whether each is live, too).
    cursor.execute(
        dialect.temporary(
            "snap_changed",
            f"SELECT {_record_columns(dialect)}, "  # noqa: S608
            "CASE WHEN r.is_deleted = %s AND r.event_date IS NOT NULL THEN 1 ELSE 0 END AS live "
            f"FROM {_RECORD} r WHERE r.last_received_at > %s AND r.kind = %s "
            # In the order of the keys they are looked up by, here and below: the index pages are then read in
            # their order, not at random (a day's changes came from a cold copy in 4.5 s, warm in 1.4 s).
            "ORDER BY r.id",
        ),
        [False, _param(since), MessageKind.ACTIVITY],
    )
    cursor.execute(
        dialect.temporary(
            "snap_old",
            f"SELECT o.* FROM {_COPY} o JOIN snap_changed x ON x.record_id = o.record_id",  # noqa: S608
        )
    )
    cursor.execute(
        dialect.temporary("snap_new", f"SELECT {_COPY_COLUMNS} FROM snap_changed WHERE live = 1 ORDER BY record_id")  # noqa: S608
    )
    # Records whose copy is already what they are (counted by an earlier run, e.g. in the overlap).
    same = " AND ".join(f"n.{column} = o.{column}" for column in _COPY_COLUMNS.split(", "))
    cursor.execute(dialect.temporary("snap_same", f"SELECT o.record_id FROM snap_old o JOIN snap_new n ON {same}"))  # noqa: S608
    for table in ("snap_old", "snap_new"):
        cursor.execute(f"DELETE FROM {table} WHERE record_id IN (SELECT record_id FROM snap_same)")  # noqa: S608
    cursor.execute(
        dialect.temporary(
            "snap_users",
            f"SELECT {_USER} FROM (SELECT {_USER} FROM snap_old UNION SELECT {_USER} FROM snap_new) u "  # noqa: S608
            f"ORDER BY {_ordered(dialect, _USER_KEY)}",
        )
    )
    units = _count(cursor, "SELECT COUNT(*) FROM (SELECT DISTINCT submitter_id, register, year FROM snap_users) u")
    if not units:
        return 0
    if dialect.postgresql:
        for table in ("snap_old", "snap_new", "snap_users"):
            cursor.execute(f"ANALYZE {table}")  # temporary tables are never analysed automatically
    # The changed users' rows in the copy as it is now (one index range per user): their presence before. After:
    # the same rows but the old copies, and the new ones. Each row once, with the sides it is on.
    cursor.execute(
        dialect.temporary(
            "snap_sides",
            f"SELECT {', '.join(f'c.{column}' for column in _SIDE_COLUMNS.split(', '))}, 1 AS in_before, "  # noqa: S608
            "CASE WHEN o.record_id IS NULL THEN 1 ELSE 0 END AS in_after "
            f"FROM snap_users u JOIN {_COPY} c ON c.submitter_id = u.submitter_id AND c.register = u.register "
            "AND c.year = u.year AND c.patient_ref = u.patient_ref "
            "LEFT JOIN snap_old o ON o.record_id = c.record_id "
            f"UNION ALL SELECT {_SIDE_COLUMNS}, 0, 1 FROM snap_new",
        )
    )
    # The copy becomes what the records are.
    cursor.execute(f"DELETE FROM {_COPY} WHERE record_id IN (SELECT record_id FROM snap_old)")  # noqa: S608
    # In the order of the index by user: consecutive rows go to the same leaf pages.
    cursor.execute(
        f"INSERT INTO {_COPY} ({_COPY_COLUMNS}) SELECT {_COPY_COLUMNS} FROM snap_new "  # noqa: S608
        f"ORDER BY {_ordered(dialect, _USER_KEY)}"
    )
    if dialect.postgresql:
        cursor.execute("ANALYZE snap_sides")
    # Per changed user and category, the months they appear in before and after, as bits.
    masks = " UNION ALL ".join(_mask_branch(dialect, *branch) for branch in _MASK_BRANCHES)
    cursor.execute(dialect.temporary("snap_masks", masks))
    key = "submitter_id, register, year, month, dimension, category"
    year_key = "submitter_id, register, year, dimension, category"
    # Per category of a year whose users changed: users who appeared in (+1) or disappeared from (-1) each month,
    # and the change of the users from January through each month (a user counts there when they appear in any
    # month up to it). One pass over the changed users; then one row per month that changed.
    in_month = ", ".join(
        f"SUM(((after_bits >> {m - 1}) & 1) - ((before_bits >> {m - 1}) & 1)) AS in_{m}" for m in MONTHS
    )
    through = ", ".join(
        f"SUM(CASE WHEN (after_bits & {(1 << m) - 1}) <> 0 THEN 1 ELSE 0 END) "
        f"- SUM(CASE WHEN (before_bits & {(1 << m) - 1}) <> 0 THEN 1 ELSE 0 END) AS through_{m}"
        for m in MONTHS
    )
    cursor.execute(
        dialect.temporary(
            "snap_mask_sums",
            f"SELECT {year_key}, {in_month}, {through} FROM snap_masks "  # noqa: S608
            f"WHERE before_bits <> after_bits GROUP BY {year_key}",
        )
    )
    users_in = f"CASE m.month {' '.join(f'WHEN {m} THEN s.in_{m}' for m in MONTHS)} END"
    cursor.execute(
        dialect.temporary(
            "snap_user_cells",
            "SELECT s.submitter_id, s.register, s.year, m.month, s.dimension, s.category, "  # noqa: S608
            f"{users_in} AS users FROM snap_mask_sums s JOIN ({_MONTHS_SQL}) m ON {users_in} <> 0",
        )
    )

    # Per cell: records added and removed, users who appeared and disappeared, received times.
    cursor.execute(
        dialect.temporary(
            "snap_cells",
            f"SELECT {key}, SUM(added) - SUM(removed) AS records, SUM(users) AS users, "  # noqa: S608
            "MIN(new_first) AS new_first, MAX(new_last) AS new_last, "
            "MIN(old_first) AS old_first, MAX(old_last) AS old_last FROM ("
            f"SELECT n.submitter_id, n.register, n.year, n.month, d.dimension, {_category('n')} AS category, "
            "1 AS added, 0 AS removed, 0 AS users, n.first_received_at AS new_first, "
            f"n.last_received_at AS new_last, {ts} AS old_first, {ts} AS old_last FROM snap_new n {_dimensions('n')} "
            f"UNION ALL SELECT o.submitter_id, o.register, o.year, o.month, d.dimension, {_category('o')}, "
            f"0, 1, 0, {ts}, {ts}, o.first_received_at, o.last_received_at FROM snap_old o {_dimensions('o')} "
            f"UNION ALL SELECT {key}, 0, 0, users, {ts}, {ts}, {ts}, {ts} FROM snap_user_cells "
            # A user's presence in a cell changes only with a record added to or removed from it.
            f") x GROUP BY {key} HAVING SUM(added) + SUM(removed) > 0 "
            # In key order, the month rows' unique key is looked up and their pages changed in order below.
            f"ORDER BY {_ordered(dialect, _CELL)}",
        )
    )
    if dialect.postgresql:
        cursor.execute("ANALYZE snap_cells")
    # Cells whose first or last received record went and nothing newer (older) came: recount their times.
    cursor.execute(
        dialect.temporary(
            "snap_dirty",
            f"SELECT c.submitter_id, c.register, c.year, c.month, c.dimension, c.category FROM snap_cells c "  # noqa: S608
            f"JOIN {_MONTH} m ON {_match('m', 'c', _CELL)} WHERE "
            "(c.old_last IS NOT NULL AND c.old_last >= m.last_received_at "
            "AND (c.new_last IS NULL OR c.new_last < c.old_last)) OR "
            "(c.old_first IS NOT NULL AND c.old_first <= m.first_received_at "
            "AND (c.new_first IS NULL OR c.new_first > c.old_first))",
        )
    )
    cursor.execute(
        f"UPDATE {_MONTH} SET records = {_MONTH}.records + c.records, users = {_MONTH}.users + c.users, "  # noqa: S608
        f"first_received_at = CASE WHEN c.new_first < {_MONTH}.first_received_at THEN c.new_first "
        f"ELSE {_MONTH}.first_received_at END, "
        f"last_received_at = CASE WHEN c.new_last > {_MONTH}.last_received_at THEN c.new_last "
        f"ELSE {_MONTH}.last_received_at END "
        f"FROM snap_cells c WHERE {_match(_MONTH, 'c', _CELL)}"
    )
    cursor.execute(
        f"INSERT INTO {_MONTH} ({_MONTH_COLUMNS}) SELECT {key}, records, users, new_first, new_last "  # noqa: S608
        "FROM snap_cells c WHERE c.records > 0 "
        f"AND NOT EXISTS (SELECT 1 FROM {_MONTH} m WHERE {_match('m', 'c', _CELL)})"
    )
    cursor.execute(
        # Only a cell that lost records can have none left.
        f"DELETE FROM {_MONTH} WHERE records = 0 AND EXISTS (SELECT 1 FROM snap_cells c "  # noqa: S608
        f"WHERE c.records < 0 AND {_match(_MONTH, 'c', _CELL)})"
    )
    # Their times from the live records of that submitter, register and month (an index range each), which the
    # copy now equals for all that counts here: the copy's index by user would be read for the whole year, every
    # record of the submitter's year for each cell (5 s for 2,800 cells in the bench). A record received while
    # this run goes can show in these times before it is counted; the next run counts it, and recounts.
    month_start, next_month_start = dialect.month_range("y.year", "y.month")
    category = (
        "CASE y.dimension WHEN 'service_code' THEN r.service_code WHEN 'contact_kind' THEN r.contact_kind "
        "WHEN 'icd_chapter' THEN r.icd_chapter ELSE '' END"
    )
    cursor.execute(
        f"UPDATE {_MONTH} SET first_received_at = t.first_at, last_received_at = t.last_at FROM ("  # noqa: S608
        "SELECT y.submitter_id, y.register, y.year, y.month, y.dimension, y.category, "
        "MIN(r.first_received_at) AS first_at, MAX(r.last_received_at) AS last_at "
        f"FROM snap_dirty y JOIN {_RECORD} r ON r.submitter_id = y.submitter_id AND r.register = y.register "
        f"AND r.event_date >= {month_start} AND r.event_date < {next_month_start} "
        f"WHERE r.kind = %s AND NOT r.is_deleted AND y.category = {category} "
        "GROUP BY y.submitter_id, y.register, y.year, y.month, y.dimension, y.category"
        f") t WHERE {_match(_MONTH, 't', _CELL)}",
        [MessageKind.ACTIVITY],
    )

    # The year: users through each month changed as snap_mask_sums says.
    zeros = ", ".join(f"0 AS through_{m}" for m in MONTHS)
    sums = ", ".join(f"SUM(through_{m}) AS through_{m}" for m in MONTHS)
    # Per year key: records and users through each month added, the newest times, and whether a month cell
    # lost its first or last record (then the year's times are recounted from its months).
    cursor.execute(
        dialect.temporary(
            "snap_years",
            f"SELECT {year_key}, SUM(records) AS records, {sums}, MIN(new_first) AS new_first, "  # noqa: S608
            "MAX(new_last) AS new_last, MAX(dirty) AS dirty FROM ("
            f"SELECT c.submitter_id, c.register, c.year, c.dimension, c.category, 1 AS is_cell, "
            f"SUM(c.records) AS records, {zeros}, MIN(c.new_first) AS new_first, MAX(c.new_last) AS new_last, "
            "MAX(CASE WHEN y.submitter_id IS NULL THEN 0 ELSE 1 END) AS dirty FROM snap_cells c "
            f"LEFT JOIN snap_dirty y ON {_match('y', 'c', _CELL)} "
            "GROUP BY c.submitter_id, c.register, c.year, c.dimension, c.category "
            f"UNION ALL SELECT {year_key}, 0, 0, {', '.join(f'through_{m}' for m in MONTHS)}, {ts}, {ts}, 0 "
            "FROM snap_mask_sums"
            f") x GROUP BY {year_key} HAVING SUM(is_cell) > 0 ORDER BY {_ordered(dialect, _YEAR_KEY)}",
        )
    )
    through_updates = ", ".join(
        f"{column} = {_YEAR}.{column} + c.through_{m}" for m, column in zip(MONTHS, _THROUGH, strict=True)
    )
    cursor.execute(
        f"UPDATE {_YEAR} SET records = {_YEAR}.records + c.records, users = {_YEAR}.users + c.through_12, "  # noqa: S608
        f"{through_updates}, "
        f"first_received_at = CASE WHEN c.new_first < {_YEAR}.first_received_at THEN c.new_first "
        f"ELSE {_YEAR}.first_received_at END, "
        f"last_received_at = CASE WHEN c.new_last > {_YEAR}.last_received_at THEN c.new_last "
        f"ELSE {_YEAR}.last_received_at END "
        f"FROM snap_years c WHERE {_match(_YEAR, 'c', _YEAR_KEY)}"
    )
    # A new year row's months are all new: their times are the new records'.
    cursor.execute(
        f"INSERT INTO {_YEAR} ({_YEAR_COLUMNS}) SELECT {year_key}, records, through_12, "  # noqa: S608
        f"{', '.join(f'through_{m}' for m in MONTHS)}, new_first, new_last FROM snap_years c WHERE c.records > 0 "
        f"AND NOT EXISTS (SELECT 1 FROM {_YEAR} y WHERE {_match('y', 'c', _YEAR_KEY)})",
    )
    cursor.execute(
        f"DELETE FROM {_YEAR} WHERE records = 0 AND EXISTS (SELECT 1 FROM snap_years c "  # noqa: S608
        f"WHERE c.records < 0 AND {_match(_YEAR, 'c', _YEAR_KEY)})"
    )
    cursor.execute(
        f"UPDATE {_YEAR} SET first_received_at = t.first_at, last_received_at = t.last_at FROM ("  # noqa: S608
        f"SELECT m.submitter_id, m.register, m.year, m.dimension, m.category, MIN(m.first_received_at) AS first_at, "
        f"MAX(m.last_received_at) AS last_at FROM {_MONTH} m JOIN snap_years c ON {_match('m', 'c', _YEAR_KEY)} "
        "WHERE c.dirty = 1 "
        f"GROUP BY m.submitter_id, m.register, m.year, m.dimension, m.category) t WHERE {_match(_YEAR, 't', _YEAR_KEY)}"
    )
    return units


# -- deliveries per deadline (registry staff's overview) --------------------------------------------

_DELIVERY = SnapshotDelivery._meta.db_table


def _refresh_deliveries(
    cursor: Any, deadlines: list[Deadline], only: str = "", only_params: Any = (), *, table: str = _DELIVERY
) -> None:
    """Recompute the deliveries of `deadlines`, for the submitters `only` selects (SQL) or for all, in `table` (the
    live one, or a new one beside it)."""
    from submissions.daily_overview import delivery_sql, expected_submitters, granted_dates_by_deadline

    granted = granted_dates_by_deadline(deadlines)
    for deadline in deadlines:
        expected = expected_submitters(deadline)
        restrict = ""
        if only:
            # `only` is this module's own SQL; values are parameters.
            expected = expected.filter(pk__in=RawSQL(only, only_params))  # noqa: S611  # nosec B611
            restrict = f" AND submitter_id IN ({only})"
        cursor.execute(f"DELETE FROM {table} WHERE deadline_id = %s{restrict}", [deadline.pk, *only_params])  # noqa: S608
        sql, params = delivery_sql(deadline, expected, granted[deadline.pk])
        cursor.execute(
            f"INSERT INTO {table} (deadline_id, submitter_id, delivered_at, due_at, status) "  # noqa: S608
            f"SELECT %s, t.submitter_id, t.delivered_at, t.due_at, t.status FROM ({sql}) t",
            [deadline.pk, *params],
        )


def _deliveries_since(cursor: Any, dialect: _Dialect, since: datetime.datetime) -> None:
    """Recompute the deliveries that can have changed since `since`: a deadline edited since then (or new) for
    everyone; otherwise its submitters with a submission since then that could count for it (a full file
    covering its period, or a change message before its latest possible deadline), an extension decided for
    it, or an edit of their own. A day of change messages touches only the deadlines still open."""
    from submissions.daily_overview import granted_dates_by_deadline

    deadlines = list(Deadline.objects.all())
    granted = granted_dates_by_deadline(deadlines)
    submission, extension = Submission._meta.db_table, Extension._meta.db_table
    for deadline in deadlines:
        if deadline.updated_at > since:
            _refresh_deliveries(cursor, [deadline])
            continue
        latest_due = max([deadline.due_at, *(end_of_day_oslo(day) for day in granted[deadline.pk])])
        kinds = list(deadline.message_kinds) or [""]
        only = (
            f"SELECT submitter_id FROM {submission} WHERE received_at > %s AND register = %s "  # noqa: S608
            f"AND kind IN ({', '.join(['%s'] * len(kinds))}) AND ("
            "(mode = %s AND period_start <= %s AND period_end >= %s) "
            "OR (mode = %s AND received_at >= %s AND received_at <= %s)) "
            f"UNION SELECT submitter_id FROM {extension} WHERE deadline_id = %s AND decided_at > %s "
            f"UNION SELECT id FROM {Submitter._meta.db_table} WHERE updated_at > %s"
        )
        params = [
            _param(since),
            deadline.register,
            *kinds,
            Submission.Mode.FULL,
            connection.ops.adapt_datefield_value(deadline.period_start),
            connection.ops.adapt_datefield_value(deadline.period_end),
            Submission.Mode.CHANGE,
            _param(start_of_day_oslo(deadline.period_start)),
            _param(latest_due),
            deadline.pk,
            _param(since),
            _param(since),
        ]
        if _count(cursor, f"SELECT COUNT(*) FROM ({only}) x", params):  # noqa: S608
            _refresh_deliveries(cursor, [deadline], only, params)


# -- the service -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    units: int
    full: bool
    changes_since: datetime.datetime | None
    as_of: datetime.datetime


class SwapBusyError(RuntimeError):
    """The swap found its tables locked by others through every attempt."""


# Lock not available (lock_timeout), and a deadlock PostgreSQL broke by cancelling the swap's statement.
_GIVE_WAY = {"55P03", "40P01"}


def _giving_way(cursor: Any, step: Any, what: str) -> None:
    """`step()` in a savepoint, waiting at most SWAP_LOCK_WAIT_MS for each lock it takes; if it waits longer (or
    deadlocks), its locks are given back, so that whoever queued behind it gets through, and it is tried again after
    a pause, SWAP_ATTEMPTS times in all. The transaction's lock_timeout is as it was afterwards."""
    cursor.execute("SELECT current_setting('lock_timeout')")
    [previous] = cursor.fetchone()
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            with transaction.atomic():  # a savepoint: a lock timeout undoes this attempt only, its lock_timeout too
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(SWAP_LOCK_WAIT_MS)}ms"])
                step()
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
            return
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) not in _GIVE_WAY:
                raise
            logger.warning("Snapshot swap (%s): its tables are in use, attempt %s of %s", what, attempt, SWAP_ATTEMPTS)
        if attempt < SWAP_ATTEMPTS:
            time.sleep(SWAP_PAUSE_SECONDS)
    raise SwapBusyError(
        f"The snapshot's tables were in use through {SWAP_ATTEMPTS} attempts to swap the rebuilt ones in ({what}; "
        f"waiting up to {SWAP_LOCK_WAIT_MS} ms for each lock); the rebuild was rolled back. A long query or an open "
        "transaction on the snapshot, submitter or deadline tables holds them."
    )


def _swap(cursor: Any, pairs: list[tuple[str, str]]) -> None:
    """Swap each (live, fresh) pair's tables (table_swap.add_foreign_keys, then take_over), giving way to others
    (_giving_way): a long reader of a snapshot table holds up the pages queued behind the swap only SWAP_LOCK_WAIT_MS
    at a time. The foreign keys are added (and their rows checked, about a second) once, before the tables are taken
    over: from then until the commit, writers of submitters and deadlines wait, readers do not."""
    _giving_way(cursor, partial(table_swap.add_foreign_keys, cursor, pairs), "foreign keys")
    _giving_way(cursor, partial(table_swap.take_over, cursor, pairs), "tables")


def _finish_rebuild(cursor: Any, swaps: list[tuple[str, str]]) -> None:
    cursor.execute(f"DELETE FROM {_DELIVERY}")  # noqa: S608
    _refresh_deliveries(cursor, list(Deadline.objects.all()))
    # Last: from here until the commit, readers of the month and year tables wait (and writers of submitters, for the
    # foreign keys).
    if swaps:
        _swap(cursor, swaps)


def _build_deliveries() -> str:
    """Every deadline's deliveries in a new table beside the live one, with its keys, committed; for the swap at the
    end of a rebuild. Returns its name. It reads only submissions, deadlines and extensions, none of the snapshot.

    It runs beside a rebuild that holds the snapshot's advisory lock and waits for it in Python, where PostgreSQL's
    deadlock detection cannot see the wait: it must take neither that lock nor any table the rebuild writes."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{int(SNAPSHOT_WORK_MEM_MB)}MB'")
        fresh = table_swap.create_like(cursor, _DELIVERY)
        _refresh_deliveries(cursor, list(Deadline.objects.all()), table=fresh)
        table_swap.build_keys(cursor, _DELIVERY, fresh)
    return fresh


def _year_rows(users: str, months: str) -> str:
    """The year table with its keys, committed, from the committed work tables (_count_users, _count_months); beside
    the month table in a rebuild in steps. Returns its name. Like _build_deliveries, it must take no lock the rebuild
    holds: it only reads the work tables, and writes a table of its own."""
    with transaction.atomic(), connection.cursor() as cursor:
        return _write_years(cursor, users, months)


def _on_own_connection(function: Any) -> Any:
    """`function` in a thread of its own: Django gives the thread a connection of its own, closed here."""
    try:
        return function()
    finally:
        connection.close()


def _all_visible(cursor: Any, table: str) -> bool:
    cursor.execute("SELECT relallvisible >= relpages FROM pg_class WHERE oid = %s::regclass", [table])
    return cursor.fetchone()[0]


def _rebuild_in_steps(dialect: _Dialect) -> int:
    """PostgreSQL, outside any transaction, in steps of their own transactions: the copy's rows are committed first,
    then its keys, and it is vacuumed, so that the next step reads it from its index alone, in user order (VACUUM
    cannot run inside a transaction, and before it a new table's rows are not known to be visible to all). That step
    counts each year's users into a work table; the month and year tables are then written from the work tables side
    by side, each committed, and the last step swaps them in with the copy and the deliveries. A session lock keeps
    other runs out across all; the tables built beside the live ones are dropped if a step fails.

    Three pieces of work run beside the rebuild, in threads of their own with connections of their own, each into a
    table of its own, committed: the deliveries, which read none of the snapshot's tables, from the start; each
    month's records, from the copy once its rows are committed, while its keys are built; and the year table, while
    the month table is written. Many of the rebuild's steps run in one process (the copy's NOT NULL check, the end of
    each index build, the vacuum, writing the month and year rows) and leave the other core idle; the deliveries
    (10-15 s at 60,000 submitters), the month records (9-10 s on both cores) and the year rows (7-9 s) take it then
    rather than add to the end."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        pool = None
        beside: list[Future[str]] = []  # the threads' work, each a table's name
        swapped = False
        try:
            # Started after the lock: a run waiting for it must not build beside the one that has it.
            pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="snapshot-rebuild")
            deliveries = pool.submit(_on_own_connection, _build_deliveries)
            beside.append(deliveries)
            with transaction.atomic():
                _lock(cursor, dialect)
                copy = _copy_rows(cursor, dialect)
                # Its statistics for the month records' plans (a new table is taken for a small one: the registers'
                # branches were planned to sort rather than hash).
                cursor.execute(f"ANALYZE {copy}")
            # Nothing may wait for this thread until the keys' transaction has committed: attaching the primary key
            # (ALTER TABLE) waits for the thread's reads of the copy, and a wait in Python PostgreSQL cannot see.
            months = pool.submit(_on_own_connection, partial(_count_months, copy))
            beside.append(months)
            with transaction.atomic():
                _lock(cursor, dialect)
                _copy_keys(cursor, copy)
            # The deliveries' transaction over first (it began before the copy's commit): while it is open, the vacuum
            # could not mark the copy's pages visible to all. The month records' began after it.
            delivered = deliveries.result()
            cursor.execute(f"VACUUM {copy}")
            # A snapshot older than the copy's commit (a transaction left open; a snapshot run waiting for the lock
            # since before it) keeps the vacuum from marking its pages visible to all. The index alone is then not
            # enough, and sorting all the rows costs more than hashing them: hash, and vacuum again once swapped in.
            vacuumed = _all_visible(cursor, copy)
            counted = months.result()
            with transaction.atomic():
                _lock(cursor, dialect)
                cursor.execute(f"DROP TABLE IF EXISTS {_USER_COUNTS}")
                _count_users(cursor, copy, vacuumed=vacuumed, into=f"CREATE UNLOGGED TABLE {_USER_COUNTS}")
                # Unanalysed, the planner guessed a quarter of their rows.
                cursor.execute(f"ANALYZE {_USER_COUNTS}, {counted}")
            # Each writes one process's rows in order: side by side they take the time of the larger.
            years = pool.submit(_on_own_connection, partial(_year_rows, _USER_COUNTS, counted))
            beside.append(years)
            with transaction.atomic():
                _lock(cursor, dialect)
                month = _write_months(cursor, _USER_COUNTS, counted)
            year = years.result()
            with transaction.atomic():
                _lock(cursor, dialect)
                units = _units(cursor, year)
                cursor.execute(f"DROP TABLE {_USER_COUNTS}, {counted}")
                # Last: from here until the commit, readers of the snapshot's tables wait (and writers of submitters,
                # for the foreign keys).
                _swap(cursor, [(_COPY, copy), (_MONTH, month), (_YEAR, year), (_DELIVERY, delivered)])
            swapped = True
            # The new deliveries' pages marked visible to all, as autovacuum would leave them: the overview counts
            # them from an index alone. The new tables are live: a failure here is not the rebuild's (autovacuum
            # will do it).
            tables = _DELIVERY if vacuumed else f"{_COPY}, {_DELIVERY}"
            try:
                cursor.execute(f"VACUUM (ANALYZE) {tables}")
            except DatabaseError:
                logger.exception("The vacuum after the rebuild's swap failed; the rebuilt snapshot is in place")
        finally:
            # Best effort: on a lost connection the lock went with the session, and the next run drops the tables.
            try:
                if pool is not None:
                    pool.shutdown(wait=True)  # the threads' tables are built or not before they can go
                if not swapped:
                    for work in beside:
                        failure = work.exception()
                        if failure is not None and failure is not sys.exc_info()[1]:  # else it would go unseen
                            logger.error("Work beside the rebuild failed too", exc_info=failure)
                    # Under the session lock, no other run builds tables of these names.
                    for table in _left_behind():
                        with contextlib.suppress(DatabaseError):
                            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            finally:
                with contextlib.suppress(DatabaseError):
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
    return units


def snapshot_rebuild(*, now: datetime.datetime | None = None) -> RefreshResult:
    """Recompute the whole snapshot."""
    as_of = now or timezone.now()
    dialect = _dialect()
    if dialect.postgresql and not connection.in_atomic_block:
        units = _rebuild_in_steps(dialect)
    else:
        # Inside a transaction (SQLite, or a caller's): all in it, the copy read from the table.
        with transaction.atomic(), connection.cursor() as cursor:
            _lock(cursor, dialect)
            units, swaps = _rebuild_all(cursor, dialect)
            _finish_rebuild(cursor, swaps)
    return RefreshResult(units=units, full=True, changes_since=None, as_of=as_of)


def snapshot_update_changed(*, since: datetime.datetime, now: datetime.datetime | None = None) -> RefreshResult:
    """Apply the records received after `since`."""
    as_of = now or timezone.now()
    dialect = _dialect()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor, dialect)
        if dialect.postgresql:
            # Each statement is short: compiling it (JIT) cost more than it saved, up to 0.2 s a statement.
            cursor.execute("SET LOCAL jit = off")
            # It looks up a day's keys in tables of millions of rows whose pages are mostly in memory. At the default
            # random page cost of 4 the planner read the copy's whole primary key in order (22 million entries, 4.4
            # s) rather than look up 230,000 ids (0.3 s).
            cursor.execute("SET LOCAL random_page_cost = 1.1")
            # Its work tables are analysed for their sizes and the spread of their keys, which a sample of 3,000 rows
            # gives as well as the default 30,000, at a tenth of the cost (0.3 s of a day's run).
            cursor.execute("SET LOCAL default_statistics_target = 10")
            # A rebuild whose worker died between its transactions left its committed copy behind (up to 4 GB), and
            # perhaps its other tables.
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(_left_behind())}")
        _drop(cursor, dialect, _WORK_TABLES)
        units = _apply_changes(cursor, dialect, since)
        _drop(cursor, dialect, _WORK_TABLES)
        _deliveries_since(cursor, dialect, since)
    return RefreshResult(units=units, full=False, changes_since=since, as_of=as_of)


def snapshot_update_submitter(*, submitter_id: int, now: datetime.datetime | None = None) -> RefreshResult:
    """Recompute every year of one submitter."""
    as_of = now or timezone.now()
    dialect = _dialect()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor, dialect)
        units = _recompute_submitter(cursor, dialect, submitter_id)
        _refresh_deliveries(cursor, list(Deadline.objects.all()), "SELECT %s", [submitter_id])
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
        # PostgreSQL empties the unlogged copy after a crash (migration 0007): then only a rebuild is right. A refresh
        # of one submitter would refill that submitter's part, and the next nightly run would take the copy for whole.
        copy_lost = not SnapshotRecord.objects.exists() and SnapshotYear.objects.exists()
        if run.scope == SnapshotRun.Scope.SUBMITTER and not copy_lost:
            result = snapshot_update_submitter(submitter_id=run.submitter_id, now=started)
        elif run.scope == SnapshotRun.Scope.NIGHTLY and not copy_lost and (previous := last_global_run()) is not None:
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
