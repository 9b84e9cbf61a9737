"""The daily view at scale: 60,000 submitters and 15 million records this year (plus last year's), on PostgreSQL.

- seeding with `seed_demo --records` (skipped when the database already holds the data: set
  DATABASE_URL to a database seeded earlier, as seeding 15 million records takes half an hour on 2 busy
  cores; BENCH_DAILY_RECORDS and BENCH_DAILY_SUBMITTERS make a smaller run);
- a full rebuild of the snapshot;
- one day of changes (about 60,000 records: new, changed and deleted) sent through the real intake by the
  daily reporters in proportion to their size, then the nightly incremental run, and the same run again
  (nothing new: the overlap's cost);
- over HTTP against gunicorn: the submitter's view (a municipality user on Oslo; registry staff on
  submitters of every kind), its htmx fragment, and registry staff's overview, beside /healthz
  (BENCH_DAILY_SKIP_PAGES=1 leaves them out).

The machine's load average is recorded with every figure: other work on these 2 cores shows in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.harness import ROOT, django_env, gunicorn, load, manage, postgres, save, table

STATE_CODE = """
import json
from django.utils import timezone
from portal.models import Submitter
from submissions.models import Record
year = timezone.localdate().year
print(json.dumps({
    "submitters": Submitter.objects.count(),
    "records_this_year": Record.objects.filter(event_date__year=year).count(),
}))
"""

# Runs inside `manage.py shell` (Django set up): bench/daily_view_work.py.
WORK_CODE = "from bench.daily_view_work import main; main(day=__DAY__)"


def _shell(env: dict[str, str], code: str) -> str:
    completed = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        sys.exit(f"manage.py shell failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}")
    return completed.stdout


def run(
    submitters: int = int(os.environ.get("BENCH_DAILY_SUBMITTERS", 60_000)),
    records: int = int(os.environ.get("BENCH_DAILY_RECORDS", 15_000_000)),
    day: int = 60_000,
    requests: int = 400,
) -> dict:
    with postgres() as database_url:
        env = django_env(database_url)
        manage(env, "migrate", "--no-input")
        manage(env, "collectstatic", "--no-input")
        state = json.loads(_shell(env, STATE_CODE))
        seeding = None
        if state["submitters"] < submitters or state["records_this_year"] < records * 0.9:
            started = time.perf_counter()
            manage(
                env,
                "seed_demo",
                "--reset",
                "--submitters",
                str(submitters),
                "--specialists",
                "1500",
                "--records",
                str(records),
            )
            seeding = {"seconds": round(time.perf_counter() - started, 1), "load": list(os.getloadavg())}
            state = json.loads(_shell(env, STATE_CODE))
        output = _shell(env, WORK_CODE.replace("__DAY__", str(day)))
        work = json.loads(output.split("RESULT", 1)[1])
        print(json.dumps({k: v for k, v in work.items() if k not in ("sessions", "paths")}, indent=2))
        sessions, paths, cookie = work.pop("sessions"), work.pop("paths"), work.pop("cookie")

        def as_user(name: str, **extra: str) -> dict[str, str]:
            return {"Cookie": f"{cookie}={sessions[name]}", "Accept-Language": "nb", **extra}

        if os.environ.get("BENCH_DAILY_SKIP_PAGES"):
            # Only the snapshot's figures (when working on the nightly run or the rebuild).
            return {"submitters": state["submitters"], "records_this_year": state["records_this_year"], "work": work}
        cases, loads = [], []
        with gunicorn(env) as port:
            for name, case_paths, headers, count in (
                ("baseline: /healthz", ["/healthz"], {}, requests * 2),
                ("submitter view: municipality user, Oslo", paths["oslo"], as_user("kommune"), requests),
                ("submitter view: specialist user", paths["specialist"], as_user("spesialist"), requests),
                ("submitter view: staff, 200 submitters of every kind", paths["any"], as_user("fhi"), requests),
                (
                    "submitter view: htmx fragment",
                    paths["oslo"],
                    as_user("kommune", **{"HX-Request": "true", "HX-Target": "daily-results"}),
                    requests,
                ),
                ("staff overview (filters, a list of submitters)", paths["overview"], as_user("fhi"), requests // 2),
            ):
                before = os.getloadavg()[0]
                cases.append(load(name, port, case_paths, requests=count, concurrency=4, headers=headers))
                loads.append({"case": name, "load_before": before, "load_after": os.getloadavg()[0]})
    print(table(cases))
    failed = [case.name for case in cases if case.errors]
    if failed:
        raise SystemExit(f"Requests failed (not 200) in: {', '.join(failed)}; the figures would be meaningless.")
    return {
        "submitters": state["submitters"],
        "records_this_year": state["records_this_year"],
        "seeding": seeding,
        "work": work,
        "cases": cases,
        "loads": loads,
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    save("daily_view", run())
