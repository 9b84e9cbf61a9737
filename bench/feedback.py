"""Feedback throughput: activity archives per second per worker, the time for 60,000 submitters with 2
workers, and peak memory (RSS) per worker. On PostgreSQL, with real Celery workers.

- single worker: N activity feedback reports, each a workbook of about 500 rows over its eight tabs
  (156 month x category, 151 condition codes, 60 procedure codes, 80 findings, ...),
  built from 1,000 live records per submitter, produced by one worker process (solo pool);
- two workers: a sample of submitters produced by two worker processes, extrapolated to 60,000
  (the work per submitter is independent, so the time grows linearly; the sample says so);
- memory: each worker's peak resident set (VmHWM from /proc);
- where the machine's CPU went per archive, by process: the workers, PostgreSQL (the bench database's
  backends, and the whole cluster with its background processes), Redis, this process (the poller), and
  the rest of the machine (/proc/stat).

The reports are asked for the way the daily job asks for all submitters after a deadline
(services.reports._create_and_enqueue: one row each, production enqueued in chunks). They have no contact
persons, so only archives are made (e-mail and SMS are separate tasks). Uses its own database
(bench_feedback on the configured server, or a throwaway cluster) and its own queue.

FEEDBACK_BENCH_SAMPLE (default 6000) and FEEDBACK_BENCH_SINGLE (default 600) set the two phases' sizes;
FEEDBACK_BENCH_KEEP_DB=1 keeps bench_feedback seeded for the next run (dropped otherwise).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.harness import ROOT, django_env, manage, postgres

RECORDS_PER_SUBMITTER = 1000
TARGET_SUBMITTERS = 60_000

SEED = """
import datetime, uuid
from django.db import connection
from portal.demo import OrgNumbers
from portal.models import Submitter
from submissions.models import Submission
from django.utils import timezone
COUNT, OFFSET, RECORDS, YEAR = {count}, {offset}, {records}, {year}
numbers = OrgNumbers(91_000_000, set(Submitter.objects.values_list("org_number", flat=True)))
submitters = Submitter.objects.bulk_create([
    Submitter(name=f"Bench {{OFFSET + i}}", kind="contract_specialist", sector="private", org_number=next(numbers),
              reports_npr=True, service_areas=["somatic"])
    for i in range(COUNT)
], batch_size=5000)
now = timezone.now()
submissions = Submission.objects.bulk_create([
    Submission(submitter=s, message_id=uuid.uuid4(), client_org_number=s.org_number, body_sha256="0" * 64,
               register="NPR", kind="activity", mode="full", status="accepted_with_errors",
               period_start=datetime.date(YEAR, 1, 1), period_end=datetime.date(YEAR, 12, 31), received_at=now,
               count_errors=80,
               receipt={{"findings": [{{"rule_id": "DATE-001", "rule_version": 1, "severity": "error",
                                         "record_id": f"r{{k}}", "path": "$.records[0].event_date",
                                         "message": "event_date er utenfor perioden."}} for k in range(80)]}})
    for s in submitters
], batch_size=5000)
with connection.cursor() as cursor:
    # Records made in SQL: every month x contact kind x ICD-10 chapter, 151 condition and 60 procedure codes.
    cursor.execute('''
        INSERT INTO submissions_record (submitter_id, register, kind, record_id, version, is_deleted, content_hash,
            patient_ref, event_date, end_date, service_code, contact_kind, icd_chapter, data, first_received_at,
            last_received_at, last_submission_id)
        SELECT s.submitter_id, 'NPR', 'activity', 'r' || g, 1, g %% 50 = 0, md5(g::text), 'p' || (g %% 700),
            make_date(%s, 1 + g %% 12, 1 + g %% 28), NULL, '',
            (ARRAY['outpatient', 'admission', 'day_treatment'])[1 + (g / 12) %% 3],
            (ARRAY['II', 'IV', 'V', 'IX', 'X', 'XI', 'XIII', 'XIV', 'XIX', 'XXI'])[1 + (g / 36) %% 10],
            jsonb_build_object(
                'condition_codes', jsonb_build_array('F' || lpad((g %% 150)::text, 3, '0'), 'Z63.0'),
                'procedure_codes', jsonb_build_array('ZXA' || lpad((g %% 60)::text, 2, '0'))),
            now(), now(), s.id
        FROM submissions_submission s CROSS JOIN generate_series(1, %s) g
        WHERE s.id = ANY(%s)
    ''', [YEAR, RECORDS, [s.pk for s in submissions]])
    cursor.execute("ANALYZE submissions_record")
print(len(submitters))
"""

COUNT_SEEDED = """
from portal.models import Submitter
print(Submitter.objects.filter(name__startswith="Bench ").count())
"""

ENQUEUE = """
from django.db import connection
from feedback.models import FeedbackReport, MonthlyPassword
from feedback.services.reports import _create_and_enqueue
from portal.models import Submitter
# Each phase starts as the first feedback of the month: no reports, no passwords yet.
FeedbackReport.objects.all().delete()
MonthlyPassword.objects.all().delete()
with connection.cursor() as cursor:
    cursor.execute("VACUUM ANALYZE feedback_feedbackreport")
    cursor.execute("VACUUM ANALYZE feedback_monthlypassword")
submitter_ids = list(
    Submitter.objects.filter(name__startswith="Bench ").order_by("id").values_list("id", flat=True)[:{count}]
)
reports = [
    FeedbackReport(submitter_id=s, kind="activity", register="NPR", year={year}, trigger="deadline",
                   key=f"{prefix}:{{s}}")
    for s in submitter_ids
]
print(len(_create_and_enqueue(reports)))
"""


@contextlib.contextmanager
def bench_database(*, keep: bool = False) -> Iterator[str]:
    """A database of our own: bench_feedback on the configured server (kept for the next run if `keep`),
    or a throwaway cluster."""
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith("postgres"):
        with postgres() as url:
            yield url
        return
    parts = urlsplit(configured)
    url = urlunsplit(parts._replace(path="/bench_feedback"))
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'bench_feedback'").fetchone()
        if not (keep and exists):
            conn.execute("DROP DATABASE IF EXISTS bench_feedback WITH (FORCE)")
            conn.execute("CREATE DATABASE bench_feedback")
    try:
        yield url
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS bench_feedback WITH (FORCE)")


def shell(env: dict[str, str], code: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"manage.py shell failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip()


def start_worker(env: dict[str, str], queue: str, name: str, log_dir: Path) -> subprocess.Popen:
    log = (log_dir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--queues",
            queue,
            "--hostname",
            f"{name}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """User plus system CPU time of a process so far (and of its children that have exited, if asked)."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def children_of(parent: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat_fields(int(entry))[1]) == parent:
                    pids.append(int(entry))
    return pids


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent on anything but idling (and waiting for I/O), all cores."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICK


class CpuMeter:
    """CPU time by process while the workers run: the workers, PostgreSQL, Redis, this process, the machine.

    PostgreSQL: the backends connected to the bench database, followed at every poll (watch) by pid, so
    that a connection the workers replace (CONN_MAX_AGE) counts up to its last poll; and the whole cluster:
    the postmaster with every child it has (those that exited are in its children's time), complete, but
    with other databases' work on a shared server."""

    def __init__(self, conn: psycopg.Connection, workers: list[subprocess.Popen]) -> None:
        self.conn = conn
        self.workers = workers
        self.postmaster = self._postmaster_pid()
        self.redis = self._redis_pid()
        self.backends_first: dict[int, float] = {}
        self.backends_last: dict[int, float] = {}

    def _postmaster_pid(self) -> int | None:
        try:
            data_directory = self.conn.execute("SHOW data_directory").fetchone()[0]
            with open(Path(data_directory) / "postmaster.pid") as pid_file:
                return int(pid_file.readline())
        except (psycopg.Error, OSError, ValueError):
            return None

    @staticmethod
    def _redis_pid() -> int | None:
        url = os.environ.get("REDIS_URL")
        if not url:
            return None
        import redis

        try:
            return int(redis.Redis.from_url(url).info("server")["process_id"])
        except (redis.RedisError, KeyError, ValueError):
            return None

    def _backends(self) -> dict[int, float]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        return {pid: cpu_seconds(pid) for (pid,) in rows}

    def watch(self) -> None:
        """Note the bench database's backends' CPU time now (a backend first seen now started since)."""
        for pid, cpu in self._backends().items():
            self.backends_first.setdefault(pid, 0.0)
            self.backends_last[pid] = cpu

    def _cluster(self) -> float | None:
        if self.postmaster is None:
            return None
        own = cpu_seconds(self.postmaster, with_children=True)
        return own + sum(cpu_seconds(pid) for pid in children_of(self.postmaster))

    def _commits(self) -> int:
        row = self.conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0])

    def snapshot(self, *, first: bool = False) -> dict:
        if first:
            self.backends_first = self._backends()
            self.backends_last = dict(self.backends_first)
        else:
            self.watch()
        times = os.times()
        return {
            "workers": sum(cpu_seconds(p.pid) for p in self.workers),
            "backends": sum(self.backends_last.values()) - sum(self.backends_first.values()),
            "cluster": self._cluster(),
            "redis": cpu_seconds(self.redis) if self.redis else None,
            "bench": times.user + times.system,
            "machine": machine_busy_seconds(),
            "transactions": self._commits(),
        }

    @staticmethod
    def per_archive(start: dict, end: dict, archives: int) -> dict:
        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds / archives * 1000, 1)

        backends = end["backends"]
        split = {
            "workers": ms(end["workers"] - start["workers"]),
            "postgres_bench_backends": ms(backends),
            "postgres_cluster": ms(end["cluster"] - start["cluster"]) if start["cluster"] is not None else None,
            "redis": ms(end["redis"] - start["redis"]) if start["redis"] is not None else None,
            "bench_poller": ms(end["bench"] - start["bench"]),
            "machine": ms(end["machine"] - start["machine"]),
        }
        known = sum(split[k] or 0.0 for k in ("workers", "postgres_cluster", "redis", "bench_poller"))
        split["rest_of_machine"] = round(split["machine"] - known, 1)
        # Committed transactions in the bench database per archive (the bench's own polls included).
        split["transactions_per_archive"] = round((end["transactions"] - start["transactions"]) / archives, 2)
        return split


def run_phase(env, database_url, *, name, count, workers, year, log_dir) -> dict:
    queue = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    prefix = f"bench:{name}"
    env = {**env, "FEEDBACK_TASK_QUEUE": queue}
    enqueued = int(shell(env, ENQUEUE.format(prefix=prefix, count=count, year=year)))
    processes = [start_worker(env, queue, f"{name}-{index}", log_dir) for index in range(workers)]
    # One connection for all the polling, a cheap count every second: the poller must not take a core.
    with psycopg.connect(database_url, autocommit=True) as conn:

        def produced() -> int:
            row = conn.execute("SELECT count(*) FROM feedback_feedbackreport WHERE status = 'produced'").fetchone()
            return int(row[0])

        meter = CpuMeter(conn, processes)
        try:
            # Time from the first archive to the last, so that worker start-up does not count.
            deadline = time.monotonic() + 3 * 3600
            while (first := produced()) == 0:
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    sys.exit(f"Workers did not start; see {log_dir}")
                time.sleep(0.05)
            started = time.monotonic()
            cpu_start = meter.snapshot(first=True)
            load_at_start = os.getloadavg()[0]
            loads = []
            while (done := produced()) < enqueued:
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    sys.exit(f"Workers stopped at {done}/{enqueued}; see {log_dir}")
                time.sleep(1.0)
                loads.append(os.getloadavg()[0])
                meter.watch()
            seconds = time.monotonic() - started
            cpu_end = meter.snapshot()
            rss = [peak_rss_mb(p.pid) for p in processes]
            load = round((load_at_start + os.getloadavg()[0]) / 2, 1)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    made = enqueued - first
    cpu = CpuMeter.per_archive(cpu_start, cpu_end, made)
    result = {
        "archives": enqueued,
        "measured_archives": made,
        "workers": workers,
        "seconds": round(seconds, 2),
        "archives_per_second": round(made / seconds, 2),
        "archives_per_second_per_worker": round(made / seconds / workers, 2),
        # The workers' own CPU time per archive: what a worker does per archive, whatever else runs on the
        # machine (the wall-clock rate depends on what other processes take).
        "worker_cpu_ms_per_archive": cpu["workers"],
        "archives_per_worker_cpu_second": round(1000 / cpu["workers"], 1),
        "cpu_ms_per_archive_by_process": cpu,
        "load_average_during": load,
        "load_average_max": round(max(loads, default=load), 1),
        "peak_rss_mb_per_worker": rss,
    }
    print(json.dumps({name: result}), flush=True)
    return result


def workbook_shape(env: dict[str, str]) -> dict:
    code = """
import io, json
from feedback.models import FeedbackReport
from feedback.services import monthly_password_reveal
from feedback.models import MonthlyPassword
from feedback.lib.archives import read_encrypted_zip
from django.core.files.storage import default_storage
from openpyxl import load_workbook
report = FeedbackReport.objects.filter(status="produced").order_by("id").first()
secret = MonthlyPassword.objects.get(submitter_id=report.submitter_id, month=report.password_month)
password = monthly_password_reveal(secret)
with default_storage.open(report.file.name, "rb") as f:
    data = f.read()
book = load_workbook(io.BytesIO(next(iter(read_encrypted_zip(io.BytesIO(data), password).values()))), read_only=True)
rows = {ws.title: sum(1 for _ in ws.iter_rows()) - 1 for ws in book.worksheets}
print(json.dumps({"archive_bytes": report.size, "rows_per_tab": rows, "rows": sum(rows.values())}))
"""
    return json.loads(shell(env, code))


def run(sample: int | None = None, single: int | None = None) -> dict:
    sample = sample or int(os.environ.get("FEEDBACK_BENCH_SAMPLE", "6000"))
    single = single or int(os.environ.get("FEEDBACK_BENCH_SINGLE", "600"))
    keep = os.environ.get("FEEDBACK_BENCH_KEEP_DB") == "1"
    year = time.localtime().tm_year - 1
    var_dir = Path(tempfile.mkdtemp(prefix="bench-feedback-"))
    try:
        with bench_database(keep=keep) as database_url:
            env = django_env(
                database_url,
                VAR_DIR=str(var_dir),
                IDENTITY_HASH_KEY="bench-identity-key",
                FEEDBACK_PASSWORD_KEY="YmVuY2gtb25seS1mZWVkYmFjay1wYXNzd29yZC1rZXk=",  # noqa: S106 - bench only
                FEEDBACK_SMS_BACKEND="feedback.sms.backends.database.SmsBackend",
                EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            )
            manage(env, "migrate", "--no-input")
            seeded_at = time.monotonic()
            have = int(shell(env, COUNT_SEEDED))
            needed = max(sample, single)
            if have < needed:
                shell(env, SEED.format(count=needed - have, offset=have, records=RECORDS_PER_SUBMITTER, year=year))
            seed_seconds = round(time.monotonic() - seeded_at, 1)
            one = run_phase(env, database_url, name="one", count=single, workers=1, year=year, log_dir=var_dir)
            two = run_phase(env, database_url, name="two", count=sample, workers=2, year=year, log_dir=var_dir)
            shape = workbook_shape(env)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    minutes_60k = round(TARGET_SUBMITTERS / two["archives_per_second"] / 60, 1)
    # With the workers' CPU time per archive as the only limit (two cores, one per worker).
    minutes_60k_cpu = round(TARGET_SUBMITTERS * two["worker_cpu_ms_per_archive"] / 1000 / 2 / 60, 1)
    # With all the machine's CPU time per archive (workers, PostgreSQL, Redis, ...) as the limit: 2 cores.
    minutes_60k_machine = round(TARGET_SUBMITTERS * two["cpu_ms_per_archive_by_process"]["machine"] / 1000 / 2 / 60, 1)
    result = {
        "cpu_count": os.cpu_count(),
        "broker": "redis" if os.environ.get("REDIS_URL") else "filesystem",
        "records_per_submitter": RECORDS_PER_SUBMITTER,
        "workbook": shape,
        "seed_seconds": seed_seconds,
        "one_worker": one,
        "two_workers_sample": two,
        "extrapolated_minutes_for_60000_with_2_workers": minutes_60k,
        "extrapolated_minutes_for_60000_with_2_workers_workers_cpu_bound": minutes_60k_cpu,
        "extrapolated_minutes_for_60000_machine_cpu_bound": minutes_60k_machine,
    }
    print(json.dumps(result, indent=2))
    return result
