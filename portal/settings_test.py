"""Test settings: the production settings with a fixed key and a fast hasher.

A separate module because tests need values production must never default to.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-key-0123456789-abcdefghijklmnopqrstuvwxyz-not-secret")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("IDENTITY_HASH_KEY", "test-only-identity-hash-key")
os.environ.setdefault("API_LOCAL_ISSUER_ENABLED", "true")
if not os.environ.get("VAR_DIR"):
    # A fresh runtime folder per test session (queue, test database), shared with the worker
    # that tests/test_worker.py starts through the inherited environment; removed at exit.
    _session_var_dir = tempfile.mkdtemp(prefix="portal-test-")
    os.environ["VAR_DIR"] = _session_var_dir
    atexit.register(shutil.rmtree, _session_var_dir, ignore_errors=True)

from portal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file instead of pytest-django's in-memory database, so that a worker process can see it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
if CELERY_BROKER_URL == "filesystem://":  # noqa: F405
    # Exchange tables beside the queue rather than in ./control of the current directory.
    CELERY_BROKER_TRANSPORT_OPTIONS["control_folder"] = str(VAR_DIR / "celery" / "control")  # noqa: F405
# WhiteNoise warns on every request when STATIC_ROOT is missing; tests never collect static files.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
