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
os.environ.setdefault("FEEDBACK_PASSWORD_KEY", "dGVzdC1vbmx5LWZlZWRiYWNrLXBhc3N3b3JkLWtleSE=")
os.environ.setdefault("FEEDBACK_SMS_BACKEND", "feedback.sms.backends.database.SmsBackend")
os.environ.setdefault("API_LOCAL_ISSUER_ENABLED", "true")
os.environ.setdefault("LOCAL_LOGIN_ENABLED", "true")
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
# The live server speaks plain HTTP, and browsers refuse __Host- cookies without Secure.
SESSION_COOKIE_NAME = "sessionid"
CSRF_COOKIE_NAME = "csrftoken"
# A shared Redis (CI) outlives the test database: keep this session's rate-limit counters to itself.
CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}-{os.urandom(4).hex()}"  # noqa: F405
# Serve static files from the finders (no collectstatic in tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file instead of pytest-django's in-memory database, so that the worker test's process can see it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
