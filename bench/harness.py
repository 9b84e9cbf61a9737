"""Shared harness: a PostgreSQL to measure against, gunicorn on loopback, and an HTTP load loop.

Everything runs on 127.0.0.1, stops by itself and cleans up what it started.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def postgres(*, durable: bool = False) -> Iterator[str]:
    """Yield a DATABASE_URL: the configured one, or a throwaway cluster started here.

    The throwaway cluster runs with fsync off unless `durable`: a benchmark whose answers promise
    that data is stored (intake's receipts) must pay for the flush at commit like production does.
    """
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        yield os.environ["DATABASE_URL"]
        return
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bins:
        sys.exit("Benchmarks need PostgreSQL: set DATABASE_URL or install the postgresql package.")
    pg_bin = bins[-1]
    workdir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    port = free_port()
    as_postgres: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    data = workdir / "data"
    subprocess.run(
        [*as_postgres, pg_bin / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir} -c shared_buffers=512MB"
    if not durable:
        options += " -c fsync=off"
    subprocess.run(
        [*as_postgres, pg_bin / "pg_ctl", "-D", data, "-w", "-l", workdir / "log", "-o", options, "start"],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [*as_postgres, pg_bin / "createdb", "-h", "127.0.0.1", "-p", str(port), "portal"],
            check=True,
            capture_output=True,
        )
        yield f"postgres://postgres@127.0.0.1:{port}/portal"
    finally:
        subprocess.run([*as_postgres, pg_bin / "pg_ctl", "-D", data, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


def django_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="false",
        SECRET_KEY="bench-only-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        IDENTITY_HASH_KEY="bench-only-identity-key",
        FEEDBACK_PASSWORD_KEY="ZmRlYmFuY2gtb25seS1mZXJuZXQta2V5LTMyYnl0ZXM=",  # noqa: S106 - bench only
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 2) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class LoadResult:
    name: str
    requests: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    errors: int


def load(
    name: str,
    port: int,
    paths: Sequence[str],
    *,
    requests: int,
    concurrency: int,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Closed-loop load: `concurrency` keep-alive clients cycle through `paths` for `requests` in total."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for index in counter:
            path = paths[index % len(paths)]
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers or {})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += 0 if ok else 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        name=name,
        requests=len(latencies),
        seconds=round(seconds, 2),
        per_second=round(len(latencies) / seconds, 1),
        p50_ms=round(statistics.median(latencies) * 1000, 1),
        p95_ms=round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        max_ms=round(latencies[-1] * 1000, 1),
        errors=errors,
    )


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=lambda o: asdict(o)), encoding="utf-8")
    return path


def table(results: Sequence[LoadResult]) -> str:
    lines = ["| case | req/s | p50 ms | p95 ms | max ms | errors |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.name} | {r.per_second} | {r.p50_ms} | {r.p95_ms} | {r.max_ms} | {r.errors} |" for r in results]
    return "\n".join(lines)
