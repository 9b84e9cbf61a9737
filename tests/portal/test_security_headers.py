"""Hardening: security headers and cookies, no inline script or style, session timeouts, rate limits and
downloads with a name the server chooses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from portal import ratelimit
from portal.downloads import attachment_response, safe_filename
from portal.models import AuditEvent
from tests.conftest import PASSWORD, client_for
from tests.portal.test_settings import run_manage

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


# -- headers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/logg-inn/", "/api/v1/docs", "/healthz"])
def test_every_response_has_the_security_headers(path, settings):
    response = Client().get(path, secure=True)
    assert response.status_code == 200
    policy = directives(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert "unsafe" not in response["Content-Security-Policy"]
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_sign_in_provider_may_receive_forms_and_nothing_else(settings):
    settings.OIDC_ISSUER = "https://helseid-sts.test.nhn.no"
    settings.OIDC_CLIENT_ID = "registerportal"
    policy = directives(Client().get("/logg-inn/"))
    assert policy["form-action"] == ["'self'", "https://helseid-sts.test.nhn.no"]
    assert policy["connect-src"] == ["'self'"]
    settings.OIDC_ISSUER = ""
    assert directives(Client().get("/logg-inn/"))["form-action"] == ["'self'"]


def test_cookies_are_httponly_and_samesite(world):
    client = Client()
    client.get(reverse("portal:login"))
    client.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD})
    session = client.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert client.cookies["csrftoken"]["httponly"]


def test_production_cookies_are_secure_host_only_and_short_lived(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_NAME, s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_NAME, "
        "s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_HTTPONLY, s.SESSION_IDLE_TIMEOUT, s.SESSION_COOKIE_AGE, "
        "s.LOCAL_LOGIN_ENABLED, 'django.contrib.auth.backends.ModelBackend' in s.AUTHENTICATION_BACKENDS, "
        "s.CACHES['default']['BACKEND'].rsplit('.', 1)[-1])"
    )
    env = {
        "DEBUG": "false",
        "SECRET_KEY": "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP",
        "ALLOWED_HOSTS": "portal.example.no",
        "VAR_DIR": str(tmp_path),
    }
    result = run_manage("shell", "-v", "0", "-c", code, env={**env, "LOCAL_LOGIN_ENABLED": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "__Host-sessionid",
        "True",
        "True",
        "__Host-csrftoken",
        "True",
        "True",
        "1800",
        "28800",
        "False",
        "False",
        "DatabaseCache",
    ]


# -- no inline script or style -------------------------------------------------------------------------

INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"hx-on", re.I), "hx-on (needs eval)"),
]


# Not pages: documents written into feedback archives (self-contained HTML a recipient opens from disk)
# and e-mail/SMS bodies. The portal serves none of them as a page.
NOT_PAGES = {"files", "email", "sms"}


def test_no_template_has_inline_script_or_style():
    found = []
    for template in TEMPLATES.rglob("*.html"):
        if NOT_PAGES.intersection(template.relative_to(TEMPLATES).parts[:-1]):
            continue
        text = template.read_text()
        found += [f"{template.relative_to(TEMPLATES)}: {what}" for pattern, what in INLINE if pattern.search(text)]
    assert found == []


def test_rendered_pages_have_no_inline_script_or_style(world):
    client = client_for(world.staff_user)
    for path in ("/", f"/innsendere/{world.municipality.pk}/", "/revisjonslogg/", "/api/v1/docs"):
        html = client.get(path).content.decode()
        assert html.count("<script") == len(re.findall(r"<script[^>]*(\bsrc=|application/json)", html)), path
        for pattern, what in INLINE[1:]:
            assert not pattern.search(html), (path, what)


# -- session timeouts --------------------------------------------------------------------------------


class Clock:
    def __init__(self, monkeypatch):
        import time

        self.now = time.time()
        monkeypatch.setattr("portal.middleware.time.time", lambda: self.now)


def test_idle_sessions_end_after_30_minutes(world, monkeypatch):
    clock = Clock(monkeypatch)
    client = Client()
    client.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD})
    for _ in range(3):  # active for 3 x 25 minutes: still signed in
        clock.now += 25 * 60
        assert client.get(reverse("portal:home")).status_code == 200
    clock.now += 31 * 60
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))
    assert "_auth_user_id" not in client.session
    expired = AuditEvent.objects.get(kind="session_expired")
    assert (expired.user_id, expired.details) == (world.municipality_user.pk, {"reason": "idle"})
    assert "økten var utløpt" in client.get(response["Location"]).content.decode()


def test_sessions_end_after_8_hours_however_active(world, monkeypatch):
    clock = Clock(monkeypatch)
    client = Client()
    client.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD})
    for _ in range(8 * 4 + 1):
        clock.now += 15 * 60
        response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert AuditEvent.objects.get(kind="session_expired").details == {"reason": "absolute"}


def test_an_expired_session_reloads_the_whole_page_under_htmx(world, monkeypatch):
    clock = Clock(monkeypatch)
    client = Client()
    client.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD})
    clock.now += 31 * 60
    response = client.get(reverse("portal:home"), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("portal:login")


# -- rate limits --------------------------------------------------------------------------------------


def test_sign_in_is_limited_per_username_and_address(world, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "sign_in": "3/15m"}
    client = Client()
    for _ in range(3):
        assert client.post(reverse("portal:login"), {"username": "kommune", "password": "wrong"}).status_code == 200
    refused = client.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD})
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 15 * 60
    assert "For mange forsøk" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(kind="rate_limited", details__scope="sign_in").count() == 1
    # Another user, or the same user from another address, is not held up.
    ok = Client().post(reverse("portal:login"), {"username": "spesialist", "password": PASSWORD})
    assert ok.status_code == 302
    elsewhere = Client(REMOTE_ADDR="192.0.2.99")
    assert elsewhere.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD}).status_code == 302


def test_successful_sign_ins_do_not_count(world, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "sign_in": "2/15m"}
    for _ in range(4):
        client = Client()
        assert client.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD}).status_code == 302


def test_the_decorator_counts_every_request_for_downloads(world, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "download": "2/1m"}

    @ratelimit.rate_limit("download", key=ratelimit.by_user)
    def download(request):
        return HttpResponse("file")

    factory = RequestFactory()

    def get(user):
        request = factory.get("/last-ned/")
        request.user = user
        return download(request)

    assert [get(world.municipality_user).status_code for _ in range(3)] == [200, 200, 429]
    assert get(world.specialist_user).status_code == 200
    assert ratelimit.attempts("download", f"user:{world.municipality_user.pk}") == 3


def test_rates_must_be_well_formed():
    assert ratelimit.Rate.parse("10/15m") == ratelimit.Rate(10, 900)
    assert ratelimit.Rate.parse("5/h") == ratelimit.Rate(5, 3600)
    for bad in ("10", "0/1m", "ten/1m", "10/15w"):
        with pytest.raises(ValueError):
            ratelimit.Rate.parse(bad)


# -- downloads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "served"),
    [
        ("tilbakemelding-2026-01.zip", "tilbakemelding-2026-01.zip"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\rapport.xlsx", "rapport.xlsx"),
        ('a"b;\r\nSet-Cookie: x=1.zip', "a_b___Set-Cookie_ x_1.zip"),
        ("Bærum kommune – aktivitet.xlsx", "Bærum kommune _ aktivitet.xlsx"),
        ("...", "fil"),
        ("x" * 300 + ".zip", "x" * 116 + ".zip"),
    ],
)
def test_download_names_are_chosen_and_cleaned_by_the_server(asked, served):
    assert safe_filename(asked) == served


def test_downloads_are_attachments_that_are_never_sniffed_or_cached():
    response = attachment_response(b"PK\x03\x04", "Bærum – VAL.zip", "application/zip")
    assert response["Content-Type"] == "application/zip"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert "filename*=utf-8''B%C3%A6rum%20_%20VAL.zip" in disposition
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store, private"
    assert response.content == b"PK\x03\x04"


def test_downloads_stream_files_and_chunks(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc" * 1000)
    response = attachment_response(path.open("rb"), "a.bin", "application/octet-stream")
    assert b"".join(response.streaming_content) == b"abc" * 1000
    assert response["Content-Disposition"] == 'attachment; filename="a.bin"'
    chunks = attachment_response(iter([b"a", b"b"]), "ab.txt", "text/plain; charset=utf-8")
    assert b"".join(chunks.streaming_content) == b"ab"
