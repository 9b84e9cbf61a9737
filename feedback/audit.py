"""Logging who downloaded or resent what: a FeedbackDownload row, and portal's audit log when it is there.

portal.audit, portal.ratelimit and portal.downloads are being built beside this app; until they are in
every checkout, feedback uses them when they import and falls back to plain Django otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse

from feedback.models import FeedbackDownload, FeedbackReport

logger = logging.getLogger("feedback.audit")


def _portal_audit():
    try:
        from portal import audit
    except ImportError:
        return None
    return audit


def record(request: HttpRequest, kind: str, **details: Any) -> None:
    audit = _portal_audit()
    if audit is not None:
        audit.record(request, kind, **details)
    else:
        user = getattr(request, "user", None)
        logger.info(
            "%s user=%s %s", kind, getattr(user, "pk", None), " ".join(f"{k}={v}" for k, v in sorted(details.items()))
        )


def record_download(request: HttpRequest, report: FeedbackReport, filename: str) -> None:
    audit = _portal_audit()
    FeedbackDownload.objects.create(
        report=report,
        user=request.user,
        username=request.user.get_username(),
        ip_address=audit.client_ip(request) if audit else request.META.get("REMOTE_ADDR") or None,
    )
    record(
        request,
        "download",
        submitter=report.submitter,
        object_type="feedback_report",
        object_id=report.pk,
        filename=filename,
    )


def attachment(file, filename: str, content_type: str = "application/zip") -> HttpResponse:
    try:
        from portal.downloads import attachment_response
    except ImportError:
        response = FileResponse(file, as_attachment=True, filename=filename, content_type=content_type)
        response["Cache-Control"] = "no-store, private"
        return response
    return attachment_response(file, filename, content_type)


def rate_limit(scope: str, **options: Any) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """portal.ratelimit's decorator when it and a rate for `scope` exist; otherwise the view as it is
    (the services keep their own limits in the database)."""
    try:
        from portal import ratelimit

        ratelimit.rate_for(scope)
        key = options.pop("key", ratelimit.by_user)
    except (ImportError, LookupError, AttributeError):
        return lambda view: view
    return ratelimit.rate_limit(scope, key=key, **options)
