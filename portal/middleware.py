"""Session timeouts (signed out after SESSION_IDLE_TIMEOUT without a request, and in any case
SESSION_ABSOLUTE_TIMEOUT after signing in: a shared PC in a municipality office must not stay
signed in), and the Content-Security-Policy middleware."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import resolve_url
from django.utils.translation import gettext as _

STARTED = "_session_started_at"
LAST_SEEN = "_session_last_seen_at"
# Writing the session on every request would cost a database write per page; once a minute is
# precise enough for a 30-minute idle timeout.
TOUCH_INTERVAL = 60


@receiver(user_logged_in, dispatch_uid="portal.middleware.session_started")
def _session_started(sender: object, request: HttpRequest | None, user: object, **kwargs: object) -> None:
    # The clock starts at sign-in (login() has just given the session a new key).
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[STARTED] = now
        request.session[LAST_SEEN] = now


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        now = int(time.time())
        session = request.session
        started = session.get(STARTED)
        last_seen = session.get(LAST_SEEN)
        if started is None or last_seen is None:
            session[STARTED] = started = now
            session[LAST_SEEN] = last_seen = now
        reason = None
        if now - started > settings.SESSION_ABSOLUTE_TIMEOUT:
            reason = "absolute"
        elif now - last_seen > settings.SESSION_IDLE_TIMEOUT:
            reason = "idle"
        if reason is not None:
            request._audit_sign_out_reason = reason  # type: ignore[attr-defined]
            logout(request)
            messages.info(request, _("You were signed out because the session timed out. Sign in again."))
            if request.headers.get("HX-Request") == "true":
                # htmx would swap the sign-in page into part of the page: load the whole page instead.
                response = HttpResponse(status=204)
                response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
                return response
            return redirect_to_login(request.get_full_path())
        if now - last_seen >= TOUCH_INTERVAL:
            session[LAST_SEEN] = now
        return self.get_response(request)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the OpenID Connect provider allowed as a form target.

    Signing out posts a form whose answer redirects to the provider's end-session endpoint, and
    browsers apply form-action to that redirect. The provider comes from settings at request time.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        issuer = urlsplit(settings.OIDC_ISSUER) if settings.OIDC_ISSUER else None
        if not report_only and issuer and issuer.scheme and issuer.netloc:
            parts.update = {**(parts.update or {}), "form-action": f"{issuer.scheme}://{issuer.netloc}"}
        return parts
