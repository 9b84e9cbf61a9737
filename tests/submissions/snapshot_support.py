"""Helpers for the daily view's tests: send messages through the real intake, and count live records the
slow, obvious way to compare the snapshot with."""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from typing import Any

from django.db import connection
from django.utils import timezone

from portal.models import Submitter
from submissions.intake import Sender, submission_receive
from submissions.models import Record, SnapshotMonth, SnapshotYear
from tests.submissions.conftest import build_message

KPR_DIMENSIONS = {"service_code": "service_code"}
NPR_DIMENSIONS = {"contact_kind": "contact_kind", "icd_chapter": "icd_chapter"}


def table_oid(table: str) -> int:
    """A table's identity: a rebuild that swaps a new table in changes it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::regclass::oid", [table])
        return cursor.fetchone()[0]


def tables_left_behind() -> int:
    """Tables a rebuild builds beside the live ones (named *_next) still there (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE %s", ["%\\_next"])
        return cursor.fetchone()[0]


def receive(submitter: Submitter, records: list[dict[str, Any]], *, now: datetime.datetime | None = None, **overrides):
    """Send one message from `submitter` through submission_receive (the API's own entry point)."""
    message = build_message(submitter, records=records, **overrides)
    outcome = submission_receive(
        body=json.dumps(message).encode(),
        sender=Sender(org_numbers=frozenset({submitter.org_number})),
        now=now or timezone.now(),
    )
    assert outcome.http_status == 201, outcome
    return outcome.receipt


def live_counts() -> tuple[dict[tuple, tuple], dict[tuple, tuple]]:
    """(month rows, year rows) computed in Python from every live activity record."""
    month: dict[tuple, dict[str, Any]] = defaultdict(lambda: {"records": 0, "users": set(), "first": [], "last": []})
    year: dict[tuple, dict[str, Any]] = defaultdict(lambda: {"records": 0, "first_month": {}, "first": [], "last": []})
    records = Record.objects.filter(kind="activity", is_deleted=False, event_date__isnull=False)
    for record in records:
        dimensions = {"total": ""}
        source = KPR_DIMENSIONS if record.register == "KPR" else NPR_DIMENSIONS
        dimensions |= {dimension: getattr(record, field) for dimension, field in source.items()}
        for dimension, category in dimensions.items():
            base = (record.submitter_id, record.register, record.event_date.year)
            cell = month[(*base, record.event_date.month, dimension, category)]
            cell["records"] += 1
            cell["users"].add(record.patient_ref)
            cell["first"].append(record.first_received_at)
            cell["last"].append(record.last_received_at)
            total = year[(*base, dimension, category)]
            total["records"] += 1
            seen = total["first_month"].get(record.patient_ref, 13)
            total["first_month"][record.patient_ref] = min(seen, record.event_date.month)
            total["first"].append(record.first_received_at)
            total["last"].append(record.last_received_at)
    months = {
        key: (cell["records"], len(cell["users"]), min(cell["first"]), max(cell["last"])) for key, cell in month.items()
    }
    years = {
        key: (
            cell["records"],
            len(cell["first_month"]),
            tuple(sum(1 for first in cell["first_month"].values() if first <= m) for m in range(1, 13)),
            min(cell["first"]),
            max(cell["last"]),
        )
        for key, cell in year.items()
    }
    return months, years


def snapshot_counts() -> tuple[dict[tuple, tuple], dict[tuple, tuple]]:
    months = {
        (row.submitter_id, row.register, row.year, row.month, row.dimension, row.category): (
            row.records,
            row.users,
            row.first_received_at,
            row.last_received_at,
        )
        for row in SnapshotMonth.objects.all()
    }
    years = {
        (row.submitter_id, row.register, row.year, row.dimension, row.category): (
            row.records,
            row.users,
            tuple(getattr(row, f"users_through_{m}") for m in range(1, 13)),
            row.first_received_at,
            row.last_received_at,
        )
        for row in SnapshotYear.objects.all()
    }
    return months, years


def assert_snapshot_matches_live() -> None:
    live_months, live_years = live_counts()
    snap_months, snap_years = snapshot_counts()
    assert snap_months == live_months
    assert snap_years == live_years
    for (_s, _r, _y, _d, _c), (_records, users, through, *_times) in snap_years.items():
        assert through[-1] == users
