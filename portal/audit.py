"""The audit log (Normen: log who saw what): append-only rows of who did what, when and from where.

Call `record(request, kind, ...)` wherever something worth auditing happens; it takes the user, the
client's IP address and user agent, the method and the path from the request. The kinds in use
(`AuditEventKind`, extend it when you add one):

    sign_in, sign_in_failed, sign_out, session_expired   recorded here, from Django's auth signals and
                                                         the sign-in views (portal.views_auth)
    authorization_failed    a refused read or write of another tenant's object (portal.access)
    rate_limited            a request refused by portal.ratelimit
    submitter_viewed, submissions_viewed, receipt_viewed views of a submitter's data
    download                every file download: record(request, "download", submitter=...,
                            object_type="feedback_report", object_id=report.pk, filename=...)
    extension_decided       a deadline extension granted or refused: record(request,
                            "extension_decided", submitter=..., object_type="extension",
                            object_id=..., decision="granted")
    password_resent         a feedback password sent again by SMS: record(request, "password_resent",
                            submitter=..., object_type="contact", object_id=...) — never the password
    audit_log_viewed        a search in this log

Details are scrubbed before they are stored or logged: keys that name secrets (password, token,
secret, ...) are dropped, 11-digit numbers (national identity numbers) and JWTs are masked. Still,
pass only what an auditor needs: ids, names of files, decisions.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse

from portal.lib.redact import redact
from portal.models import AuditEvent, AuditEventKind

logger = logging.getLogger("portal.audit")

KIND_PATTERN = re.compile(r"^[a-z][a-z_]{0,31}$")
SECRET_KEY_WORDS = (
    "password",
    "passord",
    "secret",
    "token",
    "assertion",
    "authorization",
    "cookie",
    "credential",
    "verifier",
    "nonce",
    "pid",
    "national_id",
    "fodselsnummer",
    "fnr",
)
MAX_TEXT = 500

_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


# -- scrubbing ------------------------------------------------------------------------------------


def scrub_text(value: str, *, limit: int = MAX_TEXT) -> str:
    return redact(value)[:limit]


def scrub(value: Any, *, depth: int = 0) -> Any:
    """A JSON-safe copy without secrets: secret-named keys dropped, identity numbers and JWTs masked."""
    if depth > 5:
        return "[nested too deep]"
    if isinstance(value, Mapping):
        clean: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if any(word in name.lower() for word in SECRET_KEY_WORDS):
                clean[name] = "[removed]"
            else:
                clean[name] = scrub(item, depth=depth + 1)
        return clean
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(item, depth=depth + 1) for item in list(value)[:100]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub_text(str(value))


# -- the request ----------------------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or with NUM_PROXIES trusted proxies in front, the address the
    outermost of them saw (X-Forwarded-For counted from the right; entries further left are the
    client's own claims and can be forged)."""
    proxies = getattr(settings, "NUM_PROXIES", 0)
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return _valid_ip(forwarded[-proxies])
    return _valid_ip(request.META.get("REMOTE_ADDR", ""))


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def current_request() -> HttpRequest | None:
    """The request this thread (or task) is serving, set by AuditContextMiddleware."""
    return _current_request.get()


# -- recording ------------------------------------------------------------------------------------


def record(
    request: HttpRequest | None,
    kind: str,
    *,
    user: Any = None,
    username: str | None = None,
    submitter: Any = None,
    submitter_id: int | None = None,
    object_type: str = "",
    object_id: object = "",
    **details: Any,
) -> AuditEvent:
    """Append one event. `user` defaults to the request's user; `submitter` (or `submitter_id`) is the
    tenant whose data it concerns; `details` are scrubbed (see module docstring)."""
    kind = str(kind)
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"Audit kind {kind!r} must be lower_snake_case, at most 32 characters.")
    if user is None and request is not None:
        request_user = getattr(request, "user", None)
        if request_user is not None and request_user.is_authenticated:
            user = request_user
    if submitter is not None:
        submitter_id = submitter.pk
    event = AuditEvent(
        kind=kind,
        user_id=user.pk if user is not None else None,
        username=scrub_text(username if username is not None else (user.get_username() if user else ""), limit=150),
        submitter_id=submitter_id,
        object_type=object_type[:64],
        object_id=scrub_text(str(object_id), limit=64),
        details=scrub(details),
    )
    if request is not None:
        event.method = (request.method or "")[:8]
        event.path = scrub_text(request.path)
        event.ip = client_ip(request)
        event.user_agent = scrub_text(request.META.get("HTTP_USER_AGENT", ""), limit=300)
    event.save(force_insert=True)
    # One line per event for the log collector; no details (they stay in the database).
    logger.info(
        "audit %s user=%s submitter=%s object=%s:%s ip=%s",
        kind,
        event.user_id,
        submitter_id,
        event.object_type,
        event.object_id,
        event.ip,
    )
    return event


def record_refusal(user: Any, object_type: str, object_id: object, **details: Any) -> AuditEvent:
    """An attempt to reach an object the user may not see or change (the caller raises Http404)."""
    request = current_request()
    if request is not None:
        request._audit_refusal_recorded = True  # type: ignore[attr-defined]
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    return record(
        request,
        AuditEventKind.AUTHORIZATION_FAILED,
        user=user,
        object_type=object_type,
        object_id=object_id,
        **details,
    )


class AuditContextMiddleware:
    """Makes the request available to `portal.access` (which is given only the user), and records
    a 404 on a URL that names an object when no access helper recorded it: a refusal raised by
    some other helper is still logged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if not isinstance(exception, Http404) or getattr(request, "_audit_refusal_recorded", False):
            return None
        match = request.resolver_match
        user = getattr(request, "user", None)
        if match is None or user is None or not user.is_authenticated:
            return None
        ids = {name: value for name, value in match.kwargs.items() if name.endswith("_id")}
        if not ids:
            return None
        object_name, object_id = list(ids.items())[-1]
        record_refusal(user, object_name.removesuffix("_id"), object_id, view=match.view_name, ids=ids)
        return None


# -- sign-in and sign-out, from Django's signals ----------------------------------------------------

SIGN_IN_METHODS = {
    "django.contrib.auth.backends.ModelBackend": "password",
    "portal.backends.ExternalIdentityBackend": "oidc",
}


@receiver(user_logged_in, dispatch_uid="portal.audit.signed_in")
def _signed_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    backend = getattr(user, "backend", None)
    if backend is None and request is not None and hasattr(request, "session"):
        backend = request.session.get(BACKEND_SESSION_KEY)
    method = SIGN_IN_METHODS.get(backend or "", "other")
    record(request, AuditEventKind.SIGN_IN, user=user, method=method)


@receiver(user_logged_out, dispatch_uid="portal.audit.signed_out")
def _signed_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    reason = getattr(request, "_audit_sign_out_reason", None) if request is not None else None
    if reason:
        record(request, AuditEventKind.SESSION_EXPIRED, user=user, reason=reason)
    else:
        record(request, AuditEventKind.SIGN_OUT, user=user)


@receiver(user_login_failed, dispatch_uid="portal.audit.sign_in_failed")
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already masked the password in `credentials`; only the username is kept.
    record(
        request,
        AuditEventKind.SIGN_IN_FAILED,
        username=str(credentials.get("username", ""))[:150],
        method="password",
    )
