"""Start-up configuration: fail fast in production, pass `check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Variables the test process itself sets or inherits; each case chooses its own.
PORTAL_VARIABLES = {
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "DATABASE_URL",
    "REDIS_URL",
    # Set by the browser tests for the rest of the session; Django warns about it in `check --deploy`.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in PORTAL_VARIABLES}
    base["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def test_production_without_secret_key_or_hosts_stops_with_a_clear_message(tmp_path):
    result = run_manage("check", env={"DEBUG": "false", "VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY and ALLOWED_HOSTS must be set when DEBUG is off" in result.stderr
    result = run_manage("check", env={"DEBUG": "false", "SECRET_KEY": "x" * 60, "VAR_DIR": str(tmp_path)})
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_check_deploy_reports_nothing_with_production_settings(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DEBUG": "false",
            "SECRET_KEY": "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP",
            "ALLOWED_HOSTS": "portal.example.no",
            "VAR_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_settings_switch_database_and_broker_from_the_environment(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.TIME_ZONE, s.LANGUAGE_CODE)"
    )
    env = {"DEBUG": "true", "VAR_DIR": str(tmp_path)}
    default = run_manage("shell", "-v", "0", "-c", code, env=env)
    assert default.stdout.split() == ["django.db.backends.sqlite3", "filesystem://", "Europe/Oslo", "nb"]
    configured = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        code,
        env={**env, "DATABASE_URL": "postgres://u:p@db.example:5432/portal", "REDIS_URL": "redis://cache:6379/1"},
    )
    assert configured.stdout.split()[:2] == ["django.db.backends.postgresql", "redis://cache:6379/1"]
