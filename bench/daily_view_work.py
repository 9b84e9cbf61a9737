"""The part of bench/daily_view.py that runs inside Django (`manage.py shell`): time the snapshot's full rebuild,
send one day of changes through the real intake, time the nightly run, check a sample, and prepare sessions
and paths for the load test. Prints RESULT and a JSON object."""

from __future__ import annotations

import collections
import datetime
import json
import os
import random
import re
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.utils import timezone

from portal.models import Submitter, User
from submissions import snapshot
from submissions.intake import Sender, submission_receive
from submissions.models import Deadline, Record, SnapshotMonth, SnapshotRecord, SnapshotYear, Submission

STATEMENTS_SHOWN = 25
STATEMENT_SHOWN_FROM = 0.02  # seconds
SNAPSHOT_TABLES = (
    "submissions_snapshotrecord",
    "submissions_snapshotmonth",
    "submissions_snapshotyear",
    "submissions_snapshotdelivery",
)


def _wal_position() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        return cursor.fetchone()[0]


def _wal_bytes_since(position: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [position])
        return int(cursor.fetchone()[0])


def _blocks() -> tuple[int, int]:
    """Blocks read from outside PostgreSQL's shared buffers (the OS cache or the disk), and found in them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # this session's counts so far, from the next statement on
        cursor.execute("SELECT blks_read, blks_hit FROM pg_stat_database WHERE datname = current_database()")
        read, hit = cursor.fetchone()
    return int(read), int(hit)


# BENCH_DAILY_EXPLAIN=<step>: the statements that write, run under EXPLAIN ANALYZE (diagnostics only).
WRITES = re.compile(r"\s*(CREATE TEMPORARY TABLE|CREATE (UNLOGGED )?TABLE \S+ (WITH \([^)]*\) )?AS|INSERT|UPDATE)")

# The record ids of the benchmark's own days of changes (seeded records have others): the prefix, the run's stamp.
DAY_PREFIX = "bench-day-"


def main(*, day: int) -> None:

    rng = random.Random(4)
    stamp = timezone.now().strftime("%Y%m%d%H%M%S")
    result = {}
    today = timezone.localdate()
    year = today.year

    def timed(name, function, **kwargs):
        statements, plans = [], []

        explain = os.environ.get("BENCH_DAILY_EXPLAIN") == name

        def clock(execute, sql, params, many, context):
            begun = time.perf_counter()
            try:
                if explain and WRITES.match(sql):
                    # A diagnostic run (its times include EXPLAIN's own): each writing statement's plan, as it ran.
                    outcome = execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params, many, context)
                    plan = "\n".join(row[0] for row in context["cursor"].fetchall())
                    plans.append(f"-- {time.perf_counter() - begun:.2f} s\n{sql}\n{plan}\n")
                    return outcome
                return execute(sql, params, many, context)
            finally:
                statements.append((time.perf_counter() - begun, " ".join(sql.split())[:120]))

        wal_before, blocks_before = _wal_position(), _blocks()
        started = time.perf_counter()
        with connection.execute_wrapper(clock):
            value = function(**kwargs)
        result[name] = {"seconds": round(time.perf_counter() - started, 2), "load": list(os.getloadavg())}
        if explain:
            (Path("var/bench") / f"daily_view_{name}_plans.txt").write_text("\n".join(plans))
        result[name]["wal_mb"] = round(_wal_bytes_since(wal_before) / 2**20, 1)
        # Whether the caches were warm: blocks read from outside shared buffers cost up to a disk read each.
        read, hit = (after - before for after, before in zip(_blocks(), blocks_before, strict=True))
        result[name]["blocks"] = {"read_mb": round(read * 8 / 1024, 1), "hit_mb": round(hit * 8 / 1024, 1)}
        # Where the time went: the slowest statements, in the order they ran.
        slowest = [
            item for item in sorted(statements, reverse=True)[:STATEMENTS_SHOWN] if item[0] >= STATEMENT_SHOWN_FROM
        ]
        result[name]["statements"] = [f"{s:7.2f} s  {sql}" for s, sql in statements if (s, sql) in slowest]
        print(name, result[name], flush=True)  # also on the way, so that a failure later loses nothing
        return value

    # A settled database, as autovacuum leaves it some time after a bulk load.
    with connection.cursor() as cursor:
        # The seeded data plus the previous run's day, whatever ran before: the new records of earlier runs' days
        # (about 50,000 each) would otherwise pile up, and every run would measure a larger year than the last. The
        # previous day stays: the day's changes and deletions go to each submitter's latest records, which are then
        # recent ones, as a day's corrections mostly are (without it they would be seeded records spread over the
        # year, and the nightly run's steps that count users and months took up to twice as long).
        cursor.execute("SELECT MAX(record_id) FROM submissions_record WHERE record_id LIKE %s", [f"{DAY_PREFIX}%"])
        latest = cursor.fetchone()[0]
        result["earlier_days_removed"] = 0
        if latest:
            earlier = (
                "SELECT id FROM submissions_record WHERE (record_id LIKE %s OR record_id LIKE %s) "
                "AND record_id NOT LIKE %s"
            )
            # Records of runs before run stamps ("day-" and 12 hex digits) go too.
            pattern = [f"{DAY_PREFIX}%", "day-%", f"{latest[: len(DAY_PREFIX) + len(stamp)]}%"]
            cursor.execute(f"DELETE FROM submissions_recordversion WHERE record_id IN ({earlier})", pattern)  # noqa: S608
            cursor.execute(f"DELETE FROM submissions_record WHERE id IN ({earlier})", pattern)  # noqa: S608
            result["earlier_days_removed"] = cursor.rowcount
        for table in ("submissions_record", "submissions_recordversion", "submissions_submission"):
            cursor.execute(f"VACUUM ANALYZE {table}")

    # 1. Full rebuild.
    if os.environ.get("BENCH_DAILY_SKIP_REBUILD") and SnapshotRecord.objects.exists():
        result["full_rebuild"] = {"skipped": True}  # measured in an earlier run (it takes minutes)
    else:
        rebuild = timed("full_rebuild", snapshot.snapshot_rebuild)
        result["full_rebuild"]["units"] = rebuild.units
    with connection.cursor() as cursor:
        for table in ("submissions_snapshotrecord", "submissions_snapshotmonth", "submissions_snapshotyear"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
            result.setdefault("rows", {})[table] = cursor.fetchone()[0]

    # 2. One day of changes from the daily reporters, in proportion to their size this year.
    daily = set(
        Submission.objects.filter(mode="change", kind="activity", received_at__year=year)
        .values_list("submitter_id", flat=True)
        .distinct()
    )
    sizes = dict(
        SnapshotYear.objects.filter(year=year, dimension="total", submitter_id__in=daily).values_list(
            "submitter_id", "records"
        )
    )
    ids = list(sizes)
    shares = collections.Counter(rng.choices(ids, weights=[sizes[i] for i in ids], k=day))
    submitters = {s.pk: s for s in Submitter.objects.filter(pk__in=list(shares))}
    existing = collections.defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT submitter_id, record_id, data FROM (SELECT submitter_id, record_id, data, "
            "row_number() OVER (PARTITION BY submitter_id ORDER BY id DESC) AS n FROM submissions_record "
            "WHERE submitter_id = ANY(%s) AND event_date >= %s AND NOT is_deleted AND kind = 'activity') r "
            "WHERE n <= 40",
            [list(shares), datetime.date(year, 1, 1)],
        )
        for submitter_id, record_id, data in cursor.fetchall():
            existing[submitter_id].append((record_id, data if isinstance(data, dict) else json.loads(data)))
    kpr_codes = ["1", "2", "6", "10", "11", "14", "15", "29", "30", "31"]
    npr = [("outpatient", "F32.1"), ("outpatient", "J45.9"), ("admission", "I10"), ("day_patient", "M54.5")]
    messages = []
    for submitter_id, count in shares.items():
        submitter = submitters[submitter_id]
        register = "KPR" if submitter.reports_kpr and not submitter.reports_npr else "NPR"
        old = existing.get(submitter_id, [])
        records = []
        for _ in range(count):
            roll = rng.random()
            if roll < 0.03 and old:
                record_id, _data = old.pop()
                records.append({"record_id": record_id, "operation": "delete"})
                continue
            event_day = today - datetime.timedelta(days=rng.choice([1, 1, 1, 2, 3, 7, 20]))
            if roll < 0.15 and old:
                record_id, data = old.pop()
                record = {
                    k: v
                    for k, v in data.items()
                    if k
                    in (
                        "patient_ref",
                        "event_date",
                        "unit_id",
                        "service_code",
                        "municipality_number",
                        "contact_kind",
                        "condition_codes",
                        "procedure_codes",
                    )
                }
                record.update(record_id=record_id, operation="upsert")
                if register == "KPR":
                    record["service_code"] = rng.choice(kpr_codes)
                else:
                    record["contact_kind"] = rng.choice(npr)[0]
            else:
                record = {
                    "record_id": f"{DAY_PREFIX}{stamp}-{uuid.uuid4().hex[:12]}",
                    "operation": "upsert",
                    "patient_ref": f"p{submitter_id}-{rng.randrange(max(10, sizes[submitter_id] // 3))}",
                    "event_date": event_day.isoformat(),
                }
                if register == "KPR":
                    record.update(
                        service_code=rng.choice(kpr_codes),
                        municipality_number=submitter.municipality_number or "0301",
                        unit_id="hjemmetjenesten",
                    )
                else:
                    kind, code = rng.choice(npr)
                    record.update(contact_kind=kind, condition_codes=[code], procedure_codes=[], unit_id="poliklinikk")
            records.append(record)
        for start in range(0, len(records), 500):
            sender = {"org_number": submitter.org_number}
            if submitter.kind == "municipality":
                sender["municipality_number"] = submitter.municipality_number
            messages.append(
                (
                    submitter.org_number,
                    {
                        "message_id": str(uuid.uuid4()),
                        "register": register,
                        "kind": "activity",
                        "schema_version": "1.0",
                        "mode": "change",
                        "recipient": {"org_her_id": 85217, "service_her_id": 122612 if register == "KPR" else 94378},
                        "sender": sender,
                        "system": {"name": "Benchmark", "version": "1"},
                        "contacts": [],
                        "records": records[start : start + 500],
                    },
                )
            )
    since = timezone.now()

    def send_day():
        statuses = collections.Counter()
        for org, message in messages:
            outcome = submission_receive(body=json.dumps(message).encode(), sender=Sender(org_numbers=frozenset({org})))
            statuses[outcome.receipt["status"] if outcome.receipt else outcome.http_status] += 1
        return statuses

    statuses = timed("intake_of_the_day", send_day)
    result["day"] = {
        "records": day,
        "submitters": len(shares),
        "messages": len(messages),
        "statuses": dict(statuses),
        "changed_records": Record.objects.filter(last_received_at__gt=since).count(),
    }

    # 3. The nightly run over the day, and once more (nothing new in it). It runs once a day, long after the last
    # checkpoint: each page it changes is written whole to the WAL first (full_page_writes). So it is timed after
    # one, or the figure would depend on when the last timed checkpoint happened to be.
    # The snapshot's tables as autovacuum leaves them some time after the previous run (or the rebuild): otherwise it
    # may visit them while this one is timed.
    with connection.cursor() as cursor:
        for table in SNAPSHOT_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CHECKPOINT")
    overlap = datetime.timedelta(minutes=settings.DAILY_VIEW_SNAPSHOT_OVERLAP_MINUTES)
    nightly = timed("nightly_incremental", snapshot.snapshot_update_changed, since=since - overlap)
    result["nightly_incremental"]["units"] = nightly.units
    timed("nightly_again_nothing_new", snapshot.snapshot_update_changed, since=since - overlap)

    # 4. Check a sample of changed submitters against the records.
    sample = rng.sample(list(shares), min(40, len(shares)))
    mismatches = 0
    for submitter_id in sample:
        live = collections.Counter()
        for register, month in Record.objects.filter(
            submitter_id=submitter_id, kind="activity", is_deleted=False, event_date__year=year
        ).values_list("register", "event_date__month"):
            live[(register, month)] += 1
        snap = {
            (r, m): n
            for r, m, n in SnapshotMonth.objects.filter(
                submitter_id=submitter_id, year=year, dimension="total"
            ).values_list("register", "month", "records")
        }
        mismatches += snap != dict(live)
    result["sample_mismatches"] = mismatches

    # 5. Sessions and paths for the load test.
    def session(username):
        user = User.objects.get(username=username)
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        return store.session_key

    oslo = Submitter.objects.get(municipality_number="0301", kind="municipality")
    specialist = User.objects.get(username="spesialist").memberships.first().submitter_id
    others = []
    for kind in ("municipality", "health_trust", "contract_specialist", "private_institution", "other_private"):
        others += list(Submitter.objects.filter(kind=kind).order_by("?").values_list("pk", flat=True)[:40])
    npr_deadline = (
        Deadline.objects.filter(register="NPR", period_start__year=year, due_date__lt=today)
        .order_by("-due_date")
        .first()
    )
    result["cookie"] = settings.SESSION_COOKIE_NAME  # __Host-sessionid under the production settings
    result["sessions"] = {"kommune": session("kommune"), "spesialist": session("spesialist"), "fhi": session("fhi")}
    result["paths"] = {
        "oslo": [
            f"/innsendere/{oslo.pk}/mottatte-data/",
            f"/innsendere/{oslo.pk}/mottatte-data/?aar={year - 1}",
            f"/innsendere/{oslo.pk}/mottatte-data/?kategori=service_code:6",
            f"/innsendere/{oslo.pk}/mottatte-data/?kategori=service_code:10",
        ],
        "specialist": [
            f"/innsendere/{specialist}/mottatte-data/",
            f"/innsendere/{specialist}/mottatte-data/?aar={year - 1}",
        ],
        "any": [f"/innsendere/{pk}/mottatte-data/" for pk in others],
        "overview": [
            "/mottatte-data/",
            "/mottatte-data/?register=NPR&type=contract_specialist",
            f"/mottatte-data/?register=KPR&fylke=46&aar={year - 1}",
            "/mottatte-data/?sektor=private",
            f"/mottatte-data/?aar={year}&frist={npr_deadline.pk}&status=not_received"
            if npr_deadline
            else "/mottatte-data/",
        ],
    }
    print("RESULT" + json.dumps(result, default=str))
