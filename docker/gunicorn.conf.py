"""Gunicorn settings for the portal's container (`gunicorn -c docker/gunicorn.conf.py`).

Every value can be tuned from the environment without rebuilding the image:

WEB_CONCURRENCY      number of worker processes (unset or 0: 2 x CPUs + 1, at most 8)
GUNICORN_THREADS     threads per worker (default 1: plain sync workers)
GUNICORN_TIMEOUT     seconds a request may take before its worker is restarted (default 60)
GUNICORN_BIND        address to listen on (default 0.0.0.0:8000)
FORWARDED_ALLOW_IPS  addresses/networks allowed to set X-Forwarded-* headers
                     (default: loopback and the private ranges Docker networks use)
GUNICORN_LOG_LEVEL   gunicorn's own log level (default info)
"""

from __future__ import annotations

import math
import os


def _cpus() -> int:
    """CPUs this container may use: affinity, narrowed by a cgroup v2 CPU quota if set."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# Each worker holds a full Django process (~100 MB); past 8 workers a single
# container gains little, so scale out with more containers instead.
workers = _int("WEB_CONCURRENCY", 0) or min(2 * _cpus() + 1, 8)
threads = _int("GUNICORN_THREADS", 1)

timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# The reverse proxy keeps connections to us open between requests.
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Recycle workers now and then so that a slow leak can never grow without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)

# The root filesystem is read-only in compose: heartbeat files go to shared memory.
if os.path.isdir("/dev/shm"):  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# No runtime control socket (gunicornc): it would be created under $HOME, which is
# read-only in the container, and is not needed to run the portal.
control_socket_disable = True

# The TLS-terminating reverse proxy reaches the container through Docker's
# gateway (a private address), so those ranges may set X-Forwarded-Proto.
# The port is published on 127.0.0.1 only, so nothing else can connect.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16")

# Logs go to stdout/stderr, where `docker compose logs` and the host's log
# collector pick them up.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# %(U)s is the path WITHOUT the query string: searches (?q=...) may contain
# names or identifiers and must not end up in log files. The referrer is left
# out for the same reason. The client address comes from the proxy's
# X-Forwarded-For, as gunicorn itself only sees the proxy.
access_log_format = '%({x-forwarded-for}i)s - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
