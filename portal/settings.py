"""Settings for the registry reporting portal, read from the environment.

Zero configuration (with DEBUG=true, as `make run` sets it) gives SQLite and an
embedded Celery broker. Production sets DEBUG=false, SECRET_KEY, ALLOWED_HOSTS,
DATABASE_URL and REDIS_URL; a missing value stops start-up with a clear message.
"""

from __future__ import annotations

import re
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Runtime files (SQLite database, embedded broker queue, beat schedule, collected static).
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

# Off unless asked for: a forgotten variable must never leave production in debug mode.
DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-local-development-only")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
else:
    missing = [name for name in ("SECRET_KEY", "ALLOWED_HOSTS") if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            f"{' and '.join(missing)} must be set when DEBUG is off. "
            "Set them in the environment (or in .env), or set DEBUG=true for local development."
        )
    SECRET_KEY = env.str("SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "csp",
    "ninja",
    "template_partials",
    "portal",
    "submissions",
    "feedback",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.middleware.SessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web process read while the worker writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "portal.User"
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "nb"
LANGUAGES = [("nb", "Norsk bokmål"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Oslo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"

# Security: strict by default; a TLS-terminating proxy in front sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# Load balancers and compose probe the health endpoint over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Registerportalen <ikke-svar@registerportal.localhost>")

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport so
# that a fresh machine runs worker and beat with nothing else installed.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes the database connections before and after every task unless this is set: a
# new PostgreSQL connection per task (a server process forked, its caches cold) cost more server CPU than a
# feedback archive's queries. With it set, portal.celery closes them around each task the way Django does
# around a request: when older than CONN_MAX_AGE, unusable, or after an error.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat" / "schedule")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE: dict = {
    "portal-heartbeat": {"task": "portal.tasks.heartbeat", "schedule": 300.0},
    "deadline-reminders": {"task": "submissions.tasks.send_deadline_reminders", "schedule": crontab(hour=6, minute=0)},
}
# Days before each effective deadline on which submitters that have not delivered get a reminder.
DEADLINE_REMINDER_DAYS = env.list("DEADLINE_REMINDER_DAYS", cast=int, default=[14, 3])
if any(days < 1 for days in DEADLINE_REMINDER_DAYS):
    raise ImproperlyConfigured("DEADLINE_REMINDER_DAYS must be whole days before the deadline, e.g. 14,3.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}

# Staff submitter list page size; the list is paginated for 60,000 rows.
SUBMITTER_PAGE_SIZE = 50
SUBMISSION_PAGE_SIZE = 25

# --- Sign-in, sessions, audit and hardening (HelseID, portal.audit, portal.ratelimit) ------------------
# OpenID Connect sign-in for people. Empty OIDC_ISSUER or OIDC_CLIENT_ID: no HelseID button.
# HelseID: production https://helseid-sts.nhn.no, test https://helseid-sts.test.nhn.no.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="")
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="HelseID")
# private_key_jwt (HelseID accepts nothing else), client_secret_basic or client_secret_post.
OIDC_CLIENT_AUTH_METHOD = env.str("OIDC_CLIENT_AUTH_METHOD", default="private_key_jwt")
if OIDC_CLIENT_AUTH_METHOD not in ("private_key_jwt", "client_secret_basic", "client_secret_post"):
    raise ImproperlyConfigured(
        "OIDC_CLIENT_AUTH_METHOD must be private_key_jwt, client_secret_basic or client_secret_post."
    )
# The client's private key, a JWK (as HelseID's self-service hands it out) or PEM: a file, or the text itself.
OIDC_PRIVATE_KEY_FILE = env.str("OIDC_PRIVATE_KEY_FILE", default="")
OIDC_PRIVATE_KEY = env.str("OIDC_PRIVATE_KEY", default="")
OIDC_PRIVATE_KEY_ID = env.str("OIDC_PRIVATE_KEY_ID", default="")  # default: the JWK's kid, else its thumbprint
OIDC_SIGNING_ALGORITHM = env.str("OIDC_SIGNING_ALGORITHM", default="")  # default: RS256 (RSA) or ES256 (EC)
# "issuer" (HelseID's rule) or "endpoint" (the token/PAR endpoint, RFC 7523) as the assertion's audience.
OIDC_ASSERTION_AUDIENCE = env.str("OIDC_ASSERTION_AUDIENCE", default="issuer")
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
if OIDC_ISSUER and OIDC_CLIENT_ID:
    if OIDC_CLIENT_AUTH_METHOD == "private_key_jwt" and not (OIDC_PRIVATE_KEY_FILE or OIDC_PRIVATE_KEY):
        raise ImproperlyConfigured(
            "OIDC_CLIENT_AUTH_METHOD=private_key_jwt needs OIDC_PRIVATE_KEY_FILE or OIDC_PRIVATE_KEY."
        )
    if OIDC_CLIENT_AUTH_METHOD != "private_key_jwt" and not OIDC_CLIENT_SECRET:
        raise ImproperlyConfigured(f"OIDC_CLIENT_AUTH_METHOD={OIDC_CLIENT_AUTH_METHOD} needs OIDC_CLIENT_SECRET.")
OIDC_SCOPES = env.list(
    "OIDC_SCOPES",
    default=["openid", "profile", "helseid://scopes/identity/pid", "helseid://scopes/identity/security_level"],
)
# auto: pushed authorization requests when the provider offers them (HelseID requires them of new clients).
OIDC_USE_PAR = env.str("OIDC_USE_PAR", default="auto")
OIDC_ACR_VALUES = env.str("OIDC_ACR_VALUES", default="")
OIDC_PROMPT = env.str("OIDC_PROMPT", default="")
# Absolute URLs, when the one built from the request is not what the provider has registered.
OIDC_REDIRECT_URI = env.str("OIDC_REDIRECT_URI", default="")
OIDC_POST_LOGOUT_REDIRECT_URI = env.str("OIDC_POST_LOGOUT_REDIRECT_URI", default="")
OIDC_PROVIDER_LOGOUT = env.bool("OIDC_PROVIDER_LOGOUT", default=True)
# The person's identifier: the first of these claims present. Only a keyed hash of it is stored.
OIDC_IDENTITY_CLAIMS = env.list("OIDC_IDENTITY_CLAIMS", default=["helseid://claims/identity/pid", "sub"])
OIDC_SECURITY_LEVEL_CLAIM = env.str("OIDC_SECURITY_LEVEL_CLAIM", default="helseid://claims/identity/security_level")
# HelseID's 4 is "high" (BankID, Buypass, Commfides); 0 turns the check off (providers without the claim).
OIDC_REQUIRED_SECURITY_LEVEL = env.int("OIDC_REQUIRED_SECURITY_LEVEL", default=4)
OIDC_CREATE_USERS = env.bool("OIDC_CREATE_USERS", default=True)
OIDC_HTTP_TIMEOUT = env.float("OIDC_HTTP_TIMEOUT", default=10.0)
OIDC_METADATA_TTL = env.int("OIDC_METADATA_TTL", default=3600)
OIDC_LEEWAY_SECONDS = env.int("OIDC_LEEWAY_SECONDS", default=30)
# Username and password sign-in: for development only, off in production unless asked for.
LOCAL_LOGIN_ENABLED = env.bool("LOCAL_LOGIN_ENABLED", default=DEBUG)
AUTHENTICATION_BACKENDS = ["portal.backends.ExternalIdentityBackend"]
if LOCAL_LOGIN_ENABLED:
    AUTHENTICATION_BACKENDS.append("django.contrib.auth.backends.ModelBackend")

# Sessions: signed out after SESSION_IDLE_TIMEOUT without a request, and SESSION_ABSOLUTE_TIMEOUT after
# signing in (portal.middleware.SessionTimeoutMiddleware); the cookie lives no longer than that.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT", default=SESSION_COOKIE_AGE)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SESSION_COOKIE_SAMESITE = "Lax"  # Lax, not Strict: the session must survive the redirect back from HelseID
CSRF_COOKIE_HTTPONLY = True  # pages take the token from the template (hx-headers), never from the cookie
# __Host- cookies are HTTPS-only, bound to this host and path "/" (no subdomain can set or read them).
SESSION_COOKIE_NAME = "__Host-sessionid" if SESSION_COOKIE_SECURE else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if CSRF_COOKIE_SECURE else "csrftoken"

# The shared cache (rate limits, DPoP replay cache): Redis when REDIS_URL is set, else the database.
# Never a per-process cache: gunicorn runs several processes and each would count on its own.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.str("CACHE_REDIS_URL", default=REDIS_URL),
            "KEY_PREFIX": "portal",
        }
    }
else:
    # The table is made by `migrate` (portal.apps: createcachetable after migrating).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "portal_cache"}}

# Rate limits (portal.ratelimit): "count/window", window in s, m, h or d.
RATE_LIMITS = {
    "sign_in": env.str("RATE_LIMIT_SIGN_IN", default="10/15m"),  # failed attempts per username and address
    "sign_in_start": env.str("RATE_LIMIT_SIGN_IN_START", default="30/5m"),  # HelseID sign-ins started per address
    "password_resend": env.str("RATE_LIMIT_PASSWORD_RESEND", default="5/1h"),
    "download": env.str("RATE_LIMIT_DOWNLOAD", default="120/10m"),
}
for _scope, _rate in RATE_LIMITS.items():
    if not re.fullmatch(r"\s*[1-9]\d*\s*/\s*\d*\s*[smhd]\s*", _rate):
        raise ImproperlyConfigured(f"Rate limit {_scope} = {_rate!r} is not like 10/15m.")
# Reverse proxies in front that append to X-Forwarded-For: the client address for the audit log and
# rate limits is the one the outermost of them saw. 0: REMOTE_ADDR.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

# DPoP-bound access tokens (RFC 9449) on the intake API: how old a proof may be.
DPOP_PROOF_MAX_AGE_SECONDS = env.int("DPOP_PROOF_MAX_AGE_SECONDS", default=60)

# Content-Security-Policy (django-csp): nothing inline, nothing from elsewhere. Designsystemet's CSS
# draws icons with data: SVGs. portal.middleware adds the OIDC provider to form-action (sign-out
# continues there).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "manifest-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
        "upgrade-insecure-requests": not DEBUG,
    },
}
# The same headers for every response (Django's SecurityMiddleware sets HSTS, nosniff, Referrer-Policy
# and COOP above; X_FRAME_OPTIONS for browsers without frame-ancestors).
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Scrub national identity numbers and tokens from every log line, whatever logged them.
LOGGING["filters"] = {"redact": {"()": "portal.logfilters.RedactFilter"}}
LOGGING["handlers"]["console"]["filters"] = ["redact"]
# --- end of sign-in, sessions, audit and hardening ---------------------------------------------------

# --- Intake (submissions) -----------------------------------------------------------------------
# The registry's addresses (HER-ids) in the national address register.
REGISTRY_ORG_HER_ID = env.int("REGISTRY_ORG_HER_ID", default=85217)  # FHI, level 1
RETIRED_REGISTRY_ORG_HER_IDS = [2397]  # Helsedirektoratet, until 12 March 2024
REGISTER_SERVICE_HER_IDS = {
    "KPR": {"production": 122612, "validation": 171479},
    "NPR": {"production": 94378, "validation": 121017},
}
INTAKE_MAX_BODY_BYTES = env.int("INTAKE_MAX_BODY_BYTES", default=20 * 1024 * 1024)
INTAKE_MAX_RECORDS = env.int("INTAKE_MAX_RECORDS", default=50_000)
# Key for the HMAC of national identity numbers: the numbers themselves are never stored.
IDENTITY_HASH_KEY = env.str("IDENTITY_HASH_KEY", default="" if not DEBUG else "local-development-identity-key")
if not IDENTITY_HASH_KEY:
    raise ImproperlyConfigured("IDENTITY_HASH_KEY must be set when DEBUG is off (a long random secret).")

# Machine clients: HelseID access tokens (JWT), verified against the issuer's JWKS.
HELSEID_ISSUER = env.str("HELSEID_ISSUER", default="https://helseid-sts.nhn.no")
HELSEID_JWKS_URL = env.str("HELSEID_JWKS_URL", default="")
HELSEID_JWKS_FILE = env.str("HELSEID_JWKS_FILE", default="")
API_TOKEN_AUDIENCE = env.str("API_TOKEN_AUDIENCE", default="fhi:registerportal")
API_REQUIRED_SCOPE = env.str("API_REQUIRED_SCOPE", default="fhi:registerportal/intake")
API_TOKEN_LEEWAY_SECONDS = env.int("API_TOKEN_LEEWAY_SECONDS", default=30)
# The development issuer behind `manage.py create_api_client`; off in production unless asked for.
API_LOCAL_ISSUER_ENABLED = env.bool("API_LOCAL_ISSUER_ENABLED", default=DEBUG)
API_LOCAL_ISSUER = env.str("API_LOCAL_ISSUER", default="urn:registerportal:local-issuer")
API_LOCAL_ISSUER_KEY_FILE = env.str("API_LOCAL_ISSUER_KEY_FILE", default=str(VAR_DIR / "local-issuer-key.pem"))

# --- Feedback (feedback/) ------------------------------------------------------------------------
# Fernet key(s) for the monthly archive passwords at rest (erased when the month is over). A comma-separated
# list rotates keys: the first encrypts, all decrypt. Generate one with
# `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.
FEEDBACK_PASSWORD_KEY = env.str(
    "FEEDBACK_PASSWORD_KEY", default="" if not DEBUG else "bG9jYWwtZGV2ZWxvcG1lbnQtb25seS1mZWVkYmFjazA="
)
if not FEEDBACK_PASSWORD_KEY:
    raise ImproperlyConfigured("FEEDBACK_PASSWORD_KEY must be set when DEBUG is off (a Fernet key).")
try:
    from cryptography.fernet import Fernet as _Fernet

    for _key in FEEDBACK_PASSWORD_KEY.split(","):
        _Fernet(_key.strip())
except ValueError:
    raise ImproperlyConfigured("FEEDBACK_PASSWORD_KEY must be Fernet keys (32 url-safe base64 bytes).") from None
# How SMS leave: console (development), database (development and tests; keeps the text), or http (a gateway).
FEEDBACK_SMS_BACKEND = env.str(
    "FEEDBACK_SMS_BACKEND",
    default="feedback.sms.backends.console.SmsBackend" if DEBUG else "feedback.sms.backends.http.SmsBackend",
)
FEEDBACK_SMS_GATEWAY_URL = env.str("FEEDBACK_SMS_GATEWAY_URL", default="")
FEEDBACK_SMS_GATEWAY_KEY = env.str("FEEDBACK_SMS_GATEWAY_KEY", default="")
FEEDBACK_SMS_SENDER = env.str("FEEDBACK_SMS_SENDER", default="FHI")
FEEDBACK_SMS_TIMEOUT = env.float("FEEDBACK_SMS_TIMEOUT", default=10.0)
FEEDBACK_SMS_ATTEMPTS = env.int("FEEDBACK_SMS_ATTEMPTS", default=3)
# True only if the gateway delivers a message once per Idempotency-Key: then an SMS whose worker died while
# sending is retried with the same key; otherwise it is marked uncertain for staff to resend.
FEEDBACK_SMS_GATEWAY_DEDUPLICATES = env.bool("FEEDBACK_SMS_GATEWAY_DEDUPLICATES", default=False)
# Celery queue for feedback tasks (empty: the default queue); a separate worker can serve a named queue.
FEEDBACK_TASK_QUEUE = env.str("FEEDBACK_TASK_QUEUE", default="")
# Reports asked for at once (the daily job after a deadline) are produced this many per task: the broker
# round trips, the claim and the commits are paid per chunk, not per archive.
FEEDBACK_PRODUCE_CHUNK = env.int("FEEDBACK_PRODUCE_CHUNK", default=20)
if FEEDBACK_PRODUCE_CHUNK < 1:
    raise ImproperlyConfigured("FEEDBACK_PRODUCE_CHUNK must be at least 1.")
# How long a worker's claim on a report, e-mail or SMS holds before the sweep job may take the work over.
FEEDBACK_LEASE_SECONDS = env.int("FEEDBACK_LEASE_SECONDS", default=600)
# How long queued work may wait for its task before the sweep does it: longer than the queue takes to drain
# after a deadline (60,000 workbooks with 2 workers: about 15 minutes on a 2-core machine, docs/benchmarks.md).
FEEDBACK_QUEUE_PATIENCE_SECONDS = env.int("FEEDBACK_QUEUE_PATIENCE_SECONDS", default=3600)
# Staff "send the password again": at most once per submitter in this many seconds.
FEEDBACK_PASSWORD_RESEND_INTERVAL = env.int("FEEDBACK_PASSWORD_RESEND_INTERVAL", default=600)
CELERY_BEAT_SCHEDULE |= {
    "feedback-activity-after-deadline": {
        "task": "feedback.tasks.produce_due_activity",
        "schedule": crontab(hour=5, minute=30),
    },
    "feedback-erase-past-passwords": {
        "task": "feedback.tasks.erase_past_passwords",
        "schedule": crontab(hour=0, minute=15),
    },
    "feedback-sweep": {"task": "feedback.tasks.sweep", "schedule": 300.0},
    "feedback-delete-orphan-archives": {
        "task": "feedback.tasks.delete_orphan_archives",
        "schedule": crontab(hour=3, minute=40),
    },
}

# --- The daily view of received data (submissions/snapshot.py, submissions/daily_view.py) -----------
# A change in distinct users against the same months last year is "large" (flagged, to be explained by the
# submitter) when it is at least this many percent and at least this many users.
DAILY_VIEW_LARGE_CHANGE_PERCENT = env.int("DAILY_VIEW_LARGE_CHANGE_PERCENT", default=20)
DAILY_VIEW_LARGE_CHANGE_MIN_USERS = env.int("DAILY_VIEW_LARGE_CHANGE_MIN_USERS", default=10)
# A change-based reporter with no message for this many working days has a silent daily feed.
DAILY_VIEW_SILENT_WORKING_DAYS = env.int("DAILY_VIEW_SILENT_WORKING_DAYS", default=3)
# The nightly run looks again at records received this long before the previous run: an intake
# transaction still open then commits rows stamped earlier than that run.
DAILY_VIEW_SNAPSHOT_OVERLAP_MINUTES = env.int("DAILY_VIEW_SNAPSHOT_OVERLAP_MINUTES", default=60)
if DAILY_VIEW_LARGE_CHANGE_PERCENT < 1 or DAILY_VIEW_LARGE_CHANGE_MIN_USERS < 1 or DAILY_VIEW_SILENT_WORKING_DAYS < 1:
    raise ImproperlyConfigured("DAILY_VIEW_* thresholds must be at least 1.")
CELERY_BEAT_SCHEDULE |= {
    "daily-view-snapshot": {
        "task": "submissions.tasks.refresh_snapshot_nightly",
        "schedule": crontab(hour=2, minute=0),
    },
}
# Extra steps of `manage.py seed_demo`, as dotted paths to functions called with the command's options
# (portal does not import the apps that build on it).
DEMO_SEED_STEPS = ["submissions.demo.seed"]
