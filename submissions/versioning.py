"""Storing records with their versions, in bulk.

Intake decides per record whether it is new, changed, deleted or unchanged (`Plan`),
then `apply` writes the whole message in a handful of statements. Rows travel as
light dataclasses rather than model instances: at 500 records a message, building
and adapting ORM objects was most of the intake time (docs/benchmarks.md).

On PostgreSQL new rows go in with COPY and changes with one UPDATE ... FROM unnest(...);
elsewhere (SQLite, the zero-setup default) the ORM's bulk operations do the same work.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from submissions.models import Record, RecordVersion

CHUNK = 2000  # ids per IN (...) query; well under SQLite's variable limit

# Columns copied out of a record's data for aggregation, in table order (and _copy_columns's).
COLUMNS = ("patient_ref", "event_date", "end_date", "service_code", "contact_kind", "icd_chapter")


@dataclass(slots=True)
class Row:
    record_id: str
    version: int
    is_deleted: bool
    content_hash: str
    pk: int | None = None
    columns: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    # `data` as JSON text, serialised once by intake for its content hash and reused for COPY.
    data_json: str | None = None


@dataclass
class Plan:
    creates: list[Row] = field(default_factory=list)
    upserts: list[Row] = field(default_factory=list)
    deletes: list[Row] = field(default_factory=list)
    # (row, operation, content hash, data) in message order
    versions: list[tuple[Row, str, str, dict[str, Any] | None]] = field(default_factory=list)


_CURRENT_FIELDS = ("id", "record_id", "version", "is_deleted", "content_hash")


def _row(values: tuple[Any, ...]) -> Row:
    pk, record_id, version, is_deleted, content_hash = values
    return Row(record_id=record_id, version=version, is_deleted=is_deleted, content_hash=content_hash, pk=pk)


def _raw_cursor() -> Any:
    """A psycopg cursor on Django's connection (same transaction) with server-side binding.

    Django binds parameters on the client with psycopg 3; for arrays of hundreds of values
    the quoting in Python costs more than the query.
    """
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def current_rows(scope: dict[str, Any], record_ids: list[str]) -> dict[str, Row]:
    """The stored state of these records (submitter, register and kind in `scope`)."""
    rows: dict[str, Row] = {}
    if connection.vendor == "postgresql":
        with _raw_cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(_CURRENT_FIELDS)} FROM {Record._meta.db_table} "  # noqa: S608
                # The ids in binary (%b): the text format quotes each element with a regular expression.
                "WHERE submitter_id = %s AND register = %s AND kind = %s AND record_id = ANY(%b::text[])",
                [scope["submitter_id"], scope["register"], scope["kind"], record_ids],
            )
            for values in cursor:
                row = _row(values)
                rows[row.record_id] = row
        return rows
    records = Record.objects.filter(**scope)
    for start in range(0, len(record_ids), CHUNK):
        for values in records.filter(record_id__in=record_ids[start : start + CHUNK]).values_list(*_CURRENT_FIELDS):
            row = _row(values)
            rows[row.record_id] = row
    return rows


def live_rows_in_period(scope: dict[str, Any], start: datetime.date, end: datetime.date) -> Iterator[Row]:
    records = Record.objects.filter(**scope, is_deleted=False, event_date__gte=start, event_date__lte=end)
    for values in records.values_list(*_CURRENT_FIELDS).iterator(chunk_size=CHUNK):
        yield _row(values)


def apply(
    plan: Plan,
    *,
    scope: dict[str, Any],
    submission_id: int,
    now: datetime.datetime,
) -> None:
    if connection.vendor == "postgresql":
        _apply_postgresql(plan, scope, submission_id, now)
    else:
        _apply_orm(plan, scope, submission_id, now)


# -- PostgreSQL -----------------------------------------------------------------------------------

_UPSERT_SQL_TYPES = {
    "version": "integer",
    "is_deleted": "boolean",
    "content_hash": "text",
    "patient_ref": "text",
    "event_date": "date",
    "end_date": "date",
    "service_code": "text",
    "contact_kind": "text",
    "icd_chapter": "text",
    "data": "text",
    "last_received_at": "timestamptz",
    "last_submission_id": "bigint",
}


def _apply_postgresql(plan: Plan, scope: dict[str, Any], submission_id: int, now: datetime.datetime) -> None:
    table = Record._meta.db_table
    if plan.creates:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, len(plan.creates)],
            )
            for row, (pk,) in zip(plan.creates, cursor.fetchall(), strict=True):
                row.pk = pk
        # Values that are the same on every row are formatted once.
        fixed = _copy_fields(scope["submitter_id"], scope["register"], scope["kind"])
        received = _copy_fields(now, now, submission_id)
        _copy(
            table,
            (
                "id",
                "submitter_id",
                "register",
                "kind",
                "record_id",
                "version",
                "is_deleted",
                "content_hash",
                *COLUMNS,
                "data",
                "first_received_at",
                "last_received_at",
                "last_submission_id",
            ),
            [
                f"{row.pk}\t{fixed}\t{_copy_str(row.record_id)}\t{row.version}\t{'t' if row.is_deleted else 'f'}\t"
                f"{row.content_hash}\t{_copy_columns(row.columns)}\t{_copy_json(_json_text(row, row.data))}\t"
                f"{received}\n"
                for row in plan.creates
            ],
        )
    if plan.upserts:
        fields = ("version", "content_hash", *COLUMNS, "data")
        values = [
            (row.version, row.content_hash, *(row.columns[name] for name in COLUMNS), _json_text(row, row.data))
            for row in plan.upserts
        ]
        shared = {"is_deleted": False, "last_received_at": now, "last_submission_id": submission_id}
        _update_from_arrays(table, fields, [row.pk for row in plan.upserts], values, shared)
    if plan.deletes:
        shared = {"is_deleted": True, "last_received_at": now, "last_submission_id": submission_id}
        _update_from_arrays(
            table, ("version",), [row.pk for row in plan.deletes], [(row.version,) for row in plan.deletes], shared
        )
    received_at = _copy_fields(now)
    _copy(
        RecordVersion._meta.db_table,
        ("record_id", "version", "operation", "submission_id", "content_hash", "data", "received_at"),
        [
            f"{row.pk}\t{row.version}\t{operation}\t{submission_id}\t{content_hash}\t"
            f"{_COPY_NULL if data is None else _copy_json(_json_text(row, data))}\t{received_at}\n"
            for row, operation, content_hash, data in plan.versions
        ],
    )


def _json_text(row: Row, data: dict[str, Any] | None) -> str:
    if data is row.data and row.data_json is not None:
        return row.data_json
    return json.dumps(data)


# COPY's text format, written here rather than by psycopg's write_row (a call per value and row):
# a row is one f-string, and the values every row shares are formatted once per message.
_COPY_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One value in COPY text format: NULL, booleans as t/f, dates and times in ISO 8601, text escaped."""
    if value is None:
        return _COPY_NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return _copy_str(value)
    if isinstance(value, datetime.date):  # and datetime, a subclass
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"no COPY format for {type(value).__name__}")


def _copy_str(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def _copy_json(text: str) -> str:
    # JSON text holds no raw tab, newline or carriage return (json.dumps escapes them): only backslashes.
    return text.replace("\\", "\\\\")


def _copy_date(value: datetime.date | None) -> str:
    return _COPY_NULL if value is None else value.isoformat()


def _copy_fields(*values: Any) -> str:
    return "\t".join(_copy_text(value) for value in values)


def _copy_columns(columns: dict[str, Any]) -> str:
    """The COLUMNS of a row, in that order."""
    return (
        f"{_copy_str(columns['patient_ref'])}\t{_copy_date(columns['event_date'])}\t"
        f"{_copy_date(columns['end_date'])}\t{_copy_str(columns['service_code'])}\t"
        f"{_copy_str(columns['contact_kind'])}\t{_copy_str(columns['icd_chapter'])}"
    )


def _copy(table: str, columns: tuple[str, ...], lines: list[str]) -> None:
    """COPY rows already formatted as text lines, in one write."""
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write("".join(lines).encode())


def _update_from_arrays(
    table: str, fields: tuple[str, ...], pks: list[int], values: list[tuple[Any, ...]], shared: dict[str, Any]
) -> None:
    """One UPDATE for all rows, where Django's bulk_update builds a CASE per field and row.

    Per-row values travel as arrays, values all rows share as single parameters. Both are sent in
    binary (%b): psycopg's text format quotes every array element with a regular expression.
    """
    arrays = [pks, *([row[i] for row in values] for i in range(len(fields)))]
    unnest = ", ".join(["%b::bigint[]", *(f"%b::{_UPSERT_SQL_TYPES[name]}[]" for name in fields)])
    assignments = ", ".join(
        [
            *(f"{name} = v.{name}{'::jsonb' if name == 'data' else ''}" for name in fields),
            *(f"{name} = %b::{_UPSERT_SQL_TYPES[name]}" for name in shared),
        ]
    )
    sql = (
        f"UPDATE {table} AS r SET {assignments} "  # noqa: S608 (identifiers are the model's own columns)
        f"FROM unnest({unnest}) AS v(id, {', '.join(fields)}) WHERE r.id = v.id"
    )
    with _raw_cursor() as cursor:
        cursor.execute(sql, [*shared.values(), *arrays])


# -- other databases ------------------------------------------------------------------------------


def _apply_orm(plan: Plan, scope: dict[str, Any], submission_id: int, now: datetime.datetime) -> None:
    created = [
        Record(
            **scope,
            record_id=row.record_id,
            version=row.version,
            is_deleted=row.is_deleted,
            content_hash=row.content_hash,
            data=row.data,
            first_received_at=now,
            last_received_at=now,
            last_submission_id=submission_id,
            **row.columns,
        )
        for row in plan.creates
    ]
    Record.objects.bulk_create(created, batch_size=500)
    for row, record in zip(plan.creates, created, strict=True):
        row.pk = record.pk
    upserts = [
        Record(
            pk=row.pk,
            version=row.version,
            is_deleted=False,
            content_hash=row.content_hash,
            data=row.data,
            last_received_at=now,
            last_submission_id=submission_id,
            **row.columns,
        )
        for row in plan.upserts
    ]
    Record.objects.bulk_update(
        upserts,
        ["version", "is_deleted", "content_hash", *COLUMNS, "data", "last_received_at", "last_submission"],
        batch_size=500,
    )
    deletes = [
        Record(pk=row.pk, version=row.version, is_deleted=True, last_received_at=now, last_submission_id=submission_id)
        for row in plan.deletes
    ]
    Record.objects.bulk_update(
        deletes, ["version", "is_deleted", "last_received_at", "last_submission"], batch_size=500
    )
    RecordVersion.objects.bulk_create(
        [
            RecordVersion(
                record_id=row.pk,
                version=row.version,
                operation=operation,
                submission_id=submission_id,
                content_hash=content_hash,
                data=data,
                received_at=now,
            )
            for row, operation, content_hash, data in plan.versions
        ],
        batch_size=500,
    )
