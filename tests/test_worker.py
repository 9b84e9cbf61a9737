"""A real Celery worker process runs a task sent from the test, through the broker the settings use.

Locally (no REDIS_URL) that is kombu's filesystem transport in VAR_DIR/celery; portal.settings_test
gives each test session a fresh temporary VAR_DIR, and the worker inherits it. In CI REDIS_URL points
at Redis. Either way the task goes to a queue named for this run only, so nothing left over from an
earlier run can satisfy the test, and the worker consumes nothing else.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from portal.celery import app
from portal.models import Heartbeat
from portal.tasks import heartbeat

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

STARTUP_AND_TASK_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def _database_url_for_worker() -> str:
    """The database this test runs on (the test database, inside a test) as a DATABASE_URL."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            pytest.fail(f"The worker cannot share the in-memory SQLite database {name!r}; see portal/settings_test.py")
        return f"sqlite:///{Path(name).resolve()}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        credentials = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = db["HOST"] or ""
        port = f":{db['PORT']}" if db["PORT"] else ""
        return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"
    pytest.fail(f"No DATABASE_URL for the worker for engine {db['ENGINE']}")


def _die_with_parent() -> None:
    """Linux: the kernel stops the worker if pytest itself dies, so no worker outlives a run."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Worker:
    process: subprocess.Popen
    queue: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def _delete_queue(queue: str) -> None:
    """Redis keeps a binding per queue; remove this run's (and any message left in it)."""
    try:
        with app.connection_for_write() as conn:
            # Kombu's virtual transports delete only bindings the channel knows: declare, then delete.
            bound = app.amqp.queues[queue](conn.default_channel)
            bound.declare()
            bound.delete()
    except Exception as error:  # cleanup only: never hide the test's own result
        print(f"could not delete queue {queue}: {error!r}")


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[Worker]:
    assert not app.conf.task_always_eager, "CELERY_TASK_ALWAYS_EAGER would run the task here, not in the worker"
    var_dir = Path(settings.VAR_DIR)
    queue = f"worker-test-{uuid.uuid4().hex[:12]}"
    log_path = var_dir / f"{queue}.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": _database_url_for_worker(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(settings.BASE_DIR), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        "--queues",
        queue,
        "--hostname",
        f"{queue}@%h",
    ]
    with log_path.open("wb") as log:
        # cwd is the temporary VAR_DIR: whatever the worker writes relative to it stays out of the repository.
        process = subprocess.Popen(
            command, cwd=var_dir, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    worker = Worker(process=process, queue=queue, log_path=log_path)
    try:
        yield worker
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        _delete_queue(queue)


def test_a_real_worker_runs_the_heartbeat_task(celery_worker_process: Worker):
    worker = celery_worker_process
    assert not Heartbeat.objects.filter(name="worker-test").exists()

    result = heartbeat.apply_async(args=("worker-test",), queue=worker.queue)

    deadline = time.monotonic() + STARTUP_AND_TASK_TIMEOUT
    while not Heartbeat.objects.filter(name="worker-test").exists():
        if worker.process.poll() is not None:
            pytest.fail(f"The worker exited with code {worker.process.returncode}:\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"No Heartbeat row {STARTUP_AND_TASK_TIMEOUT:.0f} s after sending task {result.id} "
                f"to queue {worker.queue} (broker {app.conf.broker_url}). Worker log:\n{worker.log_tail()}"
            )
        time.sleep(0.2)

    # The row came from this worker: it logs the task's id as succeeded just after the task returns.
    expected = f"Task portal.tasks.heartbeat[{result.id}] succeeded"
    deadline = time.monotonic() + 10
    while expected not in worker.log():
        if time.monotonic() > deadline:
            pytest.fail(f"The worker's log does not say {expected!r}:\n{worker.log_tail()}")
        time.sleep(0.2)
