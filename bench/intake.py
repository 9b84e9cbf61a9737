"""Intake throughput and receipt latency over HTTP against gunicorn, on PostgreSQL.

- sustained intake: 500-record KPR change messages (new and changed records) from many submitters;
- receipt latency: 100-record messages, p95;
- baseline: a trivial Django view (/healthz) served the same way, for the ratio.
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


def build_message(sender: dict, batch: int, size: int, *, changed_every: int = 5) -> bytes:
    """Records r{batch}-{i}; every fifth record re-sends an earlier batch's record changed."""
    today = datetime.date.today()
    records = []
    for index in range(size):
        if batch > 0 and index % changed_every == 0:
            record_id = f"r{batch - 1}-{index}"
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
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[response.status] = statuses.get(response.status, 0) + 1

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
    }


def run(senders: int = 40, rounds: int = 6, workers: int = 3) -> dict:
    with postgres() as database_url:
        env = django_env(database_url, API_LOCAL_ISSUER_ENABLED="true", IDENTITY_HASH_KEY="bench-key")
        env["API_LOCAL_ISSUER_KEY_FILE"] = str(ROOT / "var" / "bench" / "issuer-key.pem")
        manage(env, "migrate", "--no-input")
        manage(env, "collectstatic", "--no-input")
        manage(env, "seed_demo", "--reset", "--submitters", "1000")
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
    records_per_second = round(bulk["messages"] * 500 / bulk["seconds"])
    result = {
        "cpu_count": os.cpu_count(),
        "gunicorn_workers": workers,
        "baseline_requests_per_second": baseline.per_second,
        "first_batch_500": warm,
        "sustained_500": bulk,
        "sustained_records_per_second": records_per_second,
        "receipt_100": small,
        "message_vs_baseline_ratio": round(bulk["messages_per_second"] / baseline.per_second, 3),
    }
    print(json.dumps(result, indent=2))
    return result
