"""Starting and stopping a real Celery worker process for tests (tests/test_worker.py, the feedback kill test).

The worker runs `celery -A portal worker --pool solo` with the test's settings module, the database the
test runs on (the test database) and the broker the settings use (the filesystem transport in the
session's VAR_DIR locally, Redis in CI), consuming one queue named for the test only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from portal.celery import app

STOP_TIMEOUT = 10.0


def database_url_for_worker() -> str:
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


def die_with_parent() -> None:
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


def start_worker(queue: str, *, log_path: Path | None = None, extra_env: dict[str, str] | None = None) -> Worker:
    assert not app.conf.task_always_eager, "CELERY_TASK_ALWAYS_EAGER would run the task here, not in the worker"
    var_dir = Path(settings.VAR_DIR)
    log_path = log_path or var_dir / f"{queue}.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": database_url_for_worker(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(settings.BASE_DIR), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
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
    with log_path.open("ab") as log:
        # cwd is the temporary VAR_DIR: whatever the worker writes relative to it stays out of the repository.
        process = subprocess.Popen(
            command, cwd=var_dir, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
    return Worker(process=process, queue=queue, log_path=log_path)


def stop_worker(worker: Worker) -> None:
    process = worker.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # warm shutdown
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def delete_queue(queue: str) -> None:
    """Redis keeps a binding per queue; remove this run's (and any message left in it)."""
    try:
        with app.connection_for_write() as conn:
            # Kombu's virtual transports delete only bindings the channel knows: declare, then delete.
            bound = app.amqp.queues[queue](conn.default_channel)
            bound.declare()
            bound.delete()
    except Exception as error:  # cleanup only: never hide the test's own result
        print(f"could not delete queue {queue}: {error!r}")
