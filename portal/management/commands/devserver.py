from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand


def _die_with_parent() -> None:
    """Linux: let the kernel stop a child when its parent dies, so nothing is left behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Command(BaseCommand):
    help = "Development: runserver with a Celery worker and Celery beat beside it (stopped together)."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, port: str, host: str, **options):
        # Django's autoreloader re-runs this command in a child process (RUN_MAIN=true);
        # only the long-lived parent starts the background processes.
        if os.environ.get("RUN_MAIN") != "true":
            celery = [sys.executable, "-m", "celery", "-A", "portal"]
            children = [
                subprocess.Popen(  # noqa: S603
                    [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"], preexec_fn=_die_with_parent
                ),
                subprocess.Popen([*celery, "beat", "--loglevel", "INFO"], preexec_fn=_die_with_parent),  # noqa: S603
            ]

            def stop_children(*_: object) -> None:
                for child in children:
                    if child.poll() is None:
                        child.send_signal(signal.SIGTERM)
                for child in children:
                    try:
                        child.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        child.kill()

            atexit.register(stop_children)
            signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        call_command("runserver", f"{host}:{port}")
