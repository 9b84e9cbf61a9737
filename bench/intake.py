"""Intake throughput and receipt latency over HTTP against gunicorn, on PostgreSQL.

- sustained intake: 500-record KPR change messages (new and changed records) from many submitters;
- receipt latency: 100-record messages, p95;
- baseline: a trivial Django view (/healthz) served the same way, for the ratio.

PostgreSQL runs with fsync on: a receipt promises that the message is stored, so every commit is
flushed as in production. Gunicorn runs as many sync workers as docker/gunicorn.conf.py starts on
this machine (2 x CPUs + 1): while one worker waits for PostgreSQL, another can use the core.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

from bench.harness import ROOT, django_env, gunicorn, load, manage, postgres

SETUP_CODE = """
import json, datetime
from django.conf import settings
from portal.models import Submitter
from submissions.auth import local_issuer
from submissions.models import ApiClient
out = []
for s in Submitter.objects.filter(kind="municipality").order_by("id")[:COUNT]:
    client, _ = ApiClient.objects.get_or_create(
        client_id=f"bench-{s.pk}", defaults={"name": "bench", "org_number": s.org_number}
    )
    token = local_issuer().mint(client_id=client.client_id, org_number=s.org_number,
                                lifetime=datetime.timedelta(hours=2), scope=settings.API_REQUIRED_SCOPE)
    out.append({"org": s.org_number, "municipality": s.municipality_number, "her_id": s.her_id, "token": token})
print(json.dumps(out))
"""

DURABILITY_CODE = """
from django.db import connection
with connection.cursor() as cursor:
    settings = []
    for name in ("fsync", "synchronous_commit"):
        cursor.execute(f"SHOW {name}")
        settings.append(f"{name}={cursor.fetchone()[0]}")
print(", ".join(settings))
"""


def build_message(sender: dict, batch: int, size: int, *, changed_every: int = 5) -> bytes:
    """Records r{batch}-{i}; every fifth record re-sends, changed, a record the previous batch created."""
    today = datetime.date.today()
    records = []
    for index in range(size):
        if batch > 0 and index % changed_every == 0:
            # Index + 1: the previous batch created that one (at its own multiples of five it changed others).
            # Its patient and date differ from what was sent then, so the record always counts as updated.
            record_id = f"r{batch - 1}-{index + 1}"
            service_code = "10"
        else:
            record_id = f"r{batch}-{index}"
            service_code = str(1 + index % 11)
        records.append(
            {
                "record_id": record_id,
                "operation": "upsert",
                "patient_ref": f"p{index % 300}",
                "event_date": (today - datetime.timedelta(days=1 + index % 200)).isoformat(),
                "service_code": service_code,
                "municipality_number": sender["municipality"],
            }
        )
    message = {
        "message_id": str(uuid.uuid4()),
        "register": "KPR",
        "kind": "activity",
        "schema_version": "1.0",
        "mode": "change",
        "recipient": {"org_her_id": 85217, "service_her_id": 122612},
        "sender": {
            "org_number": sender["org"],
            "her_id": sender["her_id"],
            "municipality_number": sender["municipality"],
        },
        "system": {"name": "Benchmark", "version": "1"},
        "contacts": [{"name": "Kari Teknisk", "email": "kari@example.no", "mobile": "+4791234567", "types": [1]}],
        "records": records,
    }
    return json.dumps(message).encode()


def post_load(port: int, jobs: list[tuple[str, bytes]], concurrency: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counts: dict[str, int] = {}
    lock = threading.Lock()
    queue = iter(jobs)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for token, body in queue:
            started = time.perf_counter()
            conn.request(
                "POST",
                "/api/v1/messages",
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            receipt_counts = json.loads(payload).get("counts", {}) if response.status == 201 else {}
            with lock:
                latencies.append(elapsed)
                statuses[response.status] = statuses.get(response.status, 0) + 1
                for name, value in receipt_counts.items():
                    counts[name] = counts.get(name, 0) + value

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "messages": len(latencies),
        "seconds": round(seconds, 2),
        "messages_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "statuses": statuses,
        "receipt_counts": counts,
    }


def run(senders: int = 40, rounds: int = 6, workers: int | None = None) -> dict:
    # The container's default (docker/gunicorn.conf.py), so that what is measured is what is deployed.
    workers = workers or min(2 * (os.cpu_count() or 1) + 1, 8)
    with postgres(durable=True) as database_url:
        env = django_env(database_url, API_LOCAL_ISSUER_ENABLED="true", IDENTITY_HASH_KEY="bench-key")
        env["API_LOCAL_ISSUER_KEY_FILE"] = str(ROOT / "var" / "bench" / "issuer-key.pem")
        manage(env, "migrate", "--no-input")
        manage(env, "collectstatic", "--no-input")
        manage(env, "seed_demo", "--reset", "--submitters", "1000")
        # Recorded with the figures: with a DATABASE_URL the server is whatever that points to.
        durability = manage(env, "shell", "-v", "0", "-c", DURABILITY_CODE).strip()
        setup = SETUP_CODE.replace("COUNT", str(senders))
        clients = json.loads(
            subprocess.run(
                [sys.executable, "manage.py", "shell", "-v", "0", "-c", setup],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        bulk_jobs = [(c["token"], build_message(c, batch, 500)) for batch in range(rounds) for c in clients]
        small_jobs = [(c["token"], build_message(c, rounds + batch, 100)) for batch in range(3) for c in clients]
        with gunicorn(env, workers=workers) as port:
            baseline = load("baseline: /healthz", port, ["/healthz"], requests=3000, concurrency=4)
            warm = post_load(port, bulk_jobs[: len(clients)], concurrency=4)  # first batch: all new records
            bulk = post_load(port, bulk_jobs[len(clients) :], concurrency=4)
            small = post_load(port, small_jobs, concurrency=2)
    # A figure only counts if every message was stored and did what it was built to do.
    expected = {"received": 500, "created": 400, "updated": 100, "deleted": 0, "unchanged": 0, "invalid": 0}
    checks = [
        ("first batch", warm, {**expected, "created": 500, "updated": 0}),
        ("sustained", bulk, expected),
        ("receipt", small, {**expected, "received": 100, "created": 80, "updated": 20}),
    ]
    for name, outcome, per_message in checks:
        want = {key: value * outcome["messages"] for key, value in per_message.items()}
        if outcome["statuses"] != {201: outcome["messages"]} or outcome["receipt_counts"] != want:
            sys.exit(f"intake bench, {name}: {outcome['statuses']} {outcome['receipt_counts']}, expected {want}")
    records_per_second = round(bulk["messages"] * 500 / bulk["seconds"])
    result = {
        "cpu_count": os.cpu_count(),
        "gunicorn_workers": workers,
        "postgres_durability": durability,
        "baseline_requests_per_second": baseline.per_second,
        "first_batch_500": warm,
        "sustained_500": bulk,
        "sustained_records_per_second": records_per_second,
        "receipt_100": small,
        "message_vs_baseline_ratio": round(bulk["messages_per_second"] / baseline.per_second, 3),
    }
    print(json.dumps(result, indent=2))
    return result
