"""Registry staff's submitter list with 60,000 submitters, over HTTP against gunicorn.

Side by side in one run: the health view (one trivial query, no template) as the
baseline for what this machine and server can do at all.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench.harness import ROOT, django_env, gunicorn, load, manage, postgres, save, table

SESSION_CODE = """
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from portal.models import User
user = User.objects.get(username="fhi")
s = SessionStore()
s[SESSION_KEY] = str(user.pk)
s[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
s[HASH_SESSION_KEY] = user.get_session_auth_hash()
s.create()
print(s.session_key)
"""


def run(submitters: int = 60_000, requests: int = 600) -> dict:
    with postgres() as database_url:
        env = django_env(database_url)
        manage(env, "migrate", "--no-input")
        manage(env, "collectstatic", "--no-input")
        manage(env, "seed_demo", "--reset", "--submitters", str(submitters))
        # Statistics as autovacuum would have them in production; a freshly bulk-loaded table has none.
        manage(
            env, "shell", "-v", "0", "-c", "from django.db import connection; connection.cursor().execute('ANALYZE')"
        )
        session = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", SESSION_CODE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # Production settings name the cookie __Host-sessionid (Secure); the load goes over plain HTTP on loopback.
        headers = {"Cookie": f"__Host-sessionid={session}", "Accept-Language": "nb"}
        with gunicorn(env) as port:
            cases = [
                load("baseline: /healthz", port, ["/healthz"], requests=requests * 2, concurrency=4),
                load("staff list, first page", port, ["/"], requests=requests, concurrency=4, headers=headers),
                load(
                    "staff list, page 600",
                    port,
                    ["/?side=600", "/?side=1100", "/?side=40"],
                    requests=requests,
                    concurrency=4,
                    headers=headers,
                ),
                load(
                    "staff search (name, org no., municipality no.)",
                    port,
                    ["/?q=fysio", "/?q=bergen", "/?q=0301", "/?q=910000012", "/?q=psykiater&kind=contract_specialist"],
                    requests=requests,
                    concurrency=4,
                    headers=headers,
                ),
                load(
                    "htmx search fragment",
                    port,
                    ["/?q=fjord", "/?q=klinikk&register=NPR"],
                    requests=requests,
                    concurrency=4,
                    headers={**headers, "HX-Request": "true", "HX-Target": "submitter-results"},
                ),
            ]
    failed = [case.name for case in cases if case.errors]
    if failed:
        raise SystemExit(f"Requests failed (not 200) in: {', '.join(failed)}; the figures would be meaningless.")
    baseline = cases[0].per_second
    print(table(cases))
    for case in cases[1:]:
        print(f"{case.name}: {case.per_second / baseline:.2f} × baseline throughput")
    return {"submitters": submitters, "cases": cases, "cpu_count": os.cpu_count()}


if __name__ == "__main__":
    save("submitter_list", run())
