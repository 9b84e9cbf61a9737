"""Signing in and out: HelseID (OpenID Connect) and, for development, local accounts."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import audit, oidc
from portal.backends import user_for_claims
from portal.forms import SignInForm
from portal.models import AuditEventKind
from portal.ratelimit import by_field_and_ip, by_ip, failed_sign_in, rate_limit

logger = logging.getLogger(__name__)

AUTH_METHOD = "_auth_method"
OIDC_BACKEND = "portal.backends.ExternalIdentityBackend"


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _login_context(request: HttpRequest, form: SignInForm | None) -> dict[str, object]:
    return {
        "form": form,
        "next": request.POST.get("next") or request.GET.get("next", ""),
        "local_login_enabled": settings.LOCAL_LOGIN_ENABLED,
        "oidc_enabled": oidc.is_enabled(),
        "oidc_provider_name": settings.OIDC_PROVIDER_NAME,
    }


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
@rate_limit("sign_in", key=by_field_and_ip("username"), methods=("POST",), count_if=failed_sign_in)
def sign_in(request: HttpRequest) -> HttpResponse:
    """The sign-in page: the HelseID button, and the username form while LOCAL_LOGIN_ENABLED."""
    if request.user.is_authenticated:
        return redirect(_safe_next(request, request.GET.get("next")))
    if request.method == "POST":
        if not settings.LOCAL_LOGIN_ENABLED:
            return HttpResponseNotAllowed(["GET"])
        form = SignInForm(request, data=request.POST)
        if form.is_valid():
            auth_login(request, form.get_user())  # audited by portal.audit's user_logged_in receiver
            request.session[AUTH_METHOD] = "password"
            return redirect(_safe_next(request, request.POST.get("next")))
        # A failed password is audited by portal.audit's user_login_failed receiver.
        return render(request, "portal/login.html", _login_context(request, form))
    form = SignInForm(request) if settings.LOCAL_LOGIN_ENABLED else None
    return render(request, "portal/login.html", _login_context(request, form))


@never_cache
@require_GET
@rate_limit("sign_in_start", key=by_ip)
def oidc_start(request: HttpRequest) -> HttpResponse:
    """Off to HelseID: state, nonce and PKCE verifier go into the session."""
    if not oidc.is_enabled():
        raise Http404("OpenID Connect is not configured.")
    try:
        url = oidc.begin(request, next_url=_safe_next(request, request.GET.get("next")))
    except oidc.OidcError as error:
        logger.warning("OIDC sign-in could not start: %s", error)
        audit.record(request, AuditEventKind.SIGN_IN_FAILED, method="oidc", reason=error.reason)
        return render(request, "portal/sign_in_failed.html", {"unavailable": True}, status=503)
    return redirect(url)


@never_cache
@require_GET
def oidc_callback(request: HttpRequest) -> HttpResponse:
    """Back from HelseID: verify everything, then sign the person in."""
    if not oidc.is_enabled():
        raise Http404("OpenID Connect is not configured.")
    try:
        result = oidc.complete(request)
        user = user_for_claims(result.claims, issuer=settings.OIDC_ISSUER)
    except oidc.OidcError as error:
        # The reason is a fixed code and a short text: never a token or a claim value.
        logger.warning("OIDC sign-in refused: %s", error)
        audit.record(request, AuditEventKind.SIGN_IN_FAILED, method="oidc", reason=error.reason)
        return render(
            request,
            "portal/sign_in_failed.html",
            {"reason": error.reason, "unavailable": error.reason == "provider_unreachable"},
            status=503 if error.reason == "provider_unreachable" else 400,
        )
    auth_login(request, user, backend=OIDC_BACKEND)  # a new session key: no fixation
    request.session[AUTH_METHOD] = "oidc"
    return redirect(_safe_next(request, result.next_url))


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """Sign out here, and at HelseID when signed in through it (single sign-on stays otherwise)."""
    method = request.session.get(AUTH_METHOD)
    auth_logout(request)  # audited by portal.audit's user_logged_out receiver
    login_url = request.build_absolute_uri(resolve_url(settings.LOGIN_URL))
    messages.info(request, _("You are signed out."))
    if method == "oidc":
        provider_logout = oidc.logout_url(
            request, post_logout_redirect_uri=settings.OIDC_POST_LOGOUT_REDIRECT_URI or login_url
        )
        if provider_logout:
            return redirect(provider_logout)
    return redirect(settings.LOGIN_URL)


@require_GET
def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin site signs in through the portal's own sign-in (HelseID, rate limits, audit)."""
    target = reverse("portal:login")
    next_url = request.GET.get("next")
    if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(f"{target}?{urlencode({'next': next_url})}")
    return redirect(target)
