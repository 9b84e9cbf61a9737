"""Rate limits on the shared cache (Redis, or the database cache): fixed windows per scope and key.

A view gets a limit with the decorator; the rate of each scope comes from settings.RATE_LIMITS
("10/15m": ten in fifteen minutes; units s, m, h, d):

    @rate_limit("download", key=by_user)                        # every GET counts
    @rate_limit("password_resend", key=by_user, methods=("POST",))
    @rate_limit("sign_in", key=by_field_and_ip("username"), methods=("POST",), count_if=failed_sign_in)

Over the limit, the view is not called: the user gets a 429 page with Retry-After, and the audit log
an event of kind "rate_limited". The cache must be shared by all processes (settings.CACHES), or
each gunicorn worker would count on its own.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal import audit
from portal.models import AuditEventKind

RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

KeyFunction = Callable[[HttpRequest], str | None]


@dataclass(frozen=True)
class Rate:
    limit: int
    window: int  # seconds

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = RATE.match(text)
        if not match:
            raise ValueError(f"Rate {text!r} is not like '10/15m'.")
        count, amount, unit = match.groups()
        window = int(amount or 1) * UNIT_SECONDS[unit]
        if int(count) < 1 or window < 1:
            raise ValueError(f"Rate {text!r} must allow at least one request in a window of at least a second.")
        return cls(int(count), window)


def rate_for(scope: str) -> Rate:
    try:
        return Rate.parse(settings.RATE_LIMITS[scope])
    except KeyError:
        raise LookupError(f"No rate for scope {scope!r} in settings.RATE_LIMITS.") from None


def _cache_key(scope: str, key: str, rate: Rate, now: float) -> tuple[str, int]:
    window_index = int(now // rate.window)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # the key may be a username: not in the cache
    retry_after = (window_index + 1) * rate.window - int(now)
    return f"ratelimit:{scope}:{window_index}:{digest}", max(retry_after, 1)


def _increment(cache_key: str, rate: Rate) -> int:
    cache.add(cache_key, 0, timeout=rate.window + 1)
    try:
        return cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=rate.window + 1)
        return 1


def attempts(scope: str, key: str) -> int:
    """How many counted requests this key made in the current window."""
    rate = rate_for(scope)
    cache_key, _ = _cache_key(scope, key, rate, time.time())
    return int(cache.get(cache_key, 0))


def reset(scope: str, key: str) -> None:
    rate = rate_for(scope)
    cache_key, _ = _cache_key(scope, key, rate, time.time())
    cache.delete(cache_key)


# -- keys -----------------------------------------------------------------------------------------


def by_ip(request: HttpRequest) -> str | None:
    ip = audit.client_ip(request)
    return f"ip:{ip}" if ip else None


def by_user(request: HttpRequest) -> str | None:
    """The signed-in user; anonymous requests by address."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return by_ip(request)


def by_user_and_ip(request: HttpRequest) -> str | None:
    return f"{by_user(request)}|{by_ip(request)}"


def by_field_and_ip(field: str) -> KeyFunction:
    """A posted field (e.g. the username being tried) together with the client's address."""

    def key(request: HttpRequest) -> str | None:
        value = request.POST.get(field, "").strip().lower()[:150]
        return f"{field}:{value}|{by_ip(request)}"

    return key


def failed_sign_in(request: HttpRequest, response: HttpResponse) -> bool:
    """A sign-in POST failed when it did not redirect onwards."""
    return response.status_code != 302


# -- the decorator --------------------------------------------------------------------------------


def rate_limit(
    scope: str,
    *,
    key: KeyFunction,
    methods: tuple[str, ...] = ("GET", "HEAD", "POST"),
    count_if: Callable[[HttpRequest, HttpResponse], bool] | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Limit a view to settings.RATE_LIMITS[scope] requests per window and key.

    Without `count_if`, every request counts (and is counted before the view runs, so parallel
    requests cannot slip past the limit). With it, only requests for which count_if(request,
    response) is true count, e.g. failed sign-ins.
    """
    rate_for(scope)  # fail at import time on a missing or malformed rate

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return view(request, *args, **kwargs)
            identity = key(request)
            if identity is None:
                return view(request, *args, **kwargs)
            rate = rate_for(scope)
            cache_key, retry_after = _cache_key(scope, identity, rate, time.time())
            if count_if is None:
                if _increment(cache_key, rate) > rate.limit:
                    return _too_many(request, scope, retry_after)
                return view(request, *args, **kwargs)
            if int(cache.get(cache_key, 0)) >= rate.limit:
                return _too_many(request, scope, retry_after)
            response = view(request, *args, **kwargs)
            if count_if(request, response):
                _increment(cache_key, rate)
            return response

        return wrapped

    return decorator


def _too_many(request: HttpRequest, scope: str, retry_after: int) -> HttpResponse:
    audit.record(request, AuditEventKind.RATE_LIMITED, scope=scope)
    minutes = max(1, (retry_after + 59) // 60)
    response = render(request, "portal/rate_limited.html", {"minutes": minutes, "scope": scope}, status=429)
    response["Retry-After"] = str(retry_after)
    return response
