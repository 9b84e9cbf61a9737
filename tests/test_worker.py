"""A real Celery worker process runs a task sent from the test, through the broker the settings use.

Locally (no REDIS_URL) that is kombu's filesystem transport in VAR_DIR/celery; portal.settings_test
gives each test session a fresh temporary VAR_DIR, and the worker inherits it. In CI REDIS_URL points
at Redis. Either way the task goes to a queue named for this run only, so nothing left over from an
earlier run can satisfy the test, and the worker consumes nothing else.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from portal.celery import app
from portal.models import Heartbeat
from portal.tasks import heartbeat
from tests.worker_process import Worker, delete_queue, start_worker, stop_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

STARTUP_AND_TASK_TIMEOUT = 30.0


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[Worker]:
    worker = start_worker(f"worker-test-{uuid.uuid4().hex[:12]}")
    try:
        yield worker
    finally:
        stop_worker(worker)
        delete_queue(worker.queue)


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


def _worker_backends() -> set[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
        return {pid for (pid,) in cursor.fetchall()}


def _run_heartbeat(worker: Worker, name: str) -> None:
    heartbeat.apply_async(args=(name,), queue=worker.queue)
    deadline = time.monotonic() + STARTUP_AND_TASK_TIMEOUT
    while not Heartbeat.objects.filter(name=name).exists():
        if worker.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"No heartbeat {name!r} from the worker:\n{worker.log_tail()}")
        time.sleep(0.1)


def test_the_worker_keeps_its_database_connection_between_tasks(celery_worker_process: Worker):
    """Celery closes the connections after every task unless told otherwise (CELERY_DB_REUSE_MAX): on
    PostgreSQL that is a server process started for every task."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a connection of its own to look at: PostgreSQL only")
    _run_heartbeat(celery_worker_process, "first")
    time.sleep(0.5)  # past the task's end, when Celery would close the connection
    after_first = _worker_backends()
    _run_heartbeat(celery_worker_process, "second")
    time.sleep(0.5)
    assert after_first and _worker_backends() == after_first
