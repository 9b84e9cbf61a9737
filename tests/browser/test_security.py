"""In a real browser: the Content-Security-Policy blocks nothing the portal needs (no inline script or
style anywhere), and signing in and out with HelseID works against the test provider."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_submitter_page import sign_in
from tests.conftest import World
from tests.oidc_provider import CALLBACK_PATH, CLIENT_ID, LOGIN_PATH, person, public_part


def watch_csp(page: Page) -> list[str]:
    """Everything the browser reports as refused by the Content-Security-Policy."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    page.on("pageerror", lambda error: violations.append(f"page error: {error}"))
    return violations


def test_pages_run_under_the_content_security_policy(live_world: World, page: Page):
    staff = live_world.staff_user
    staff.is_staff = True
    staff.is_superuser = True
    staff.save()
    violations = watch_csp(page)
    sign_in(page, staff.username)
    submitter = live_world.municipality
    for path in (
        "/",
        f"/innsendere/{submitter.pk}/",
        f"/innsendere/{submitter.pk}/innsendinger/",
        "/revisjonslogg/",
        "/utsettelser/",
        "/admin/",
        f"/admin/portal/submitter/{submitter.pk}/change/",
    ):
        response = page.goto(path)
        assert response is not None and response.ok, path
        assert "default-src 'none'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
    # htmx still works: a search swaps in the results without a page load.
    page.goto("/")
    page.locator("#id_q").fill("oslo")
    expect(page.locator("#submitter-results tbody tr")).to_have_count(1)
    assert violations == []


def test_the_api_documentation_runs_under_its_policy(live_world: World, page: Page):
    violations = watch_csp(page)
    page.goto("/api/v1/docs")
    expect(page.locator(".swagger-ui .title").first).to_contain_text("intake API")
    expect(page.get_by_text("/api/v1/messages").first).to_be_visible()
    assert violations == []


@pytest.fixture
def browser_helseid(helseid, live_server):
    helseid.register_client(
        CLIENT_ID,
        redirect_uris=[live_server.url + CALLBACK_PATH],
        post_logout_redirect_uris=[live_server.url + LOGIN_PATH],
        jwk=helseid.clients[CLIENT_ID].jwk,
    )
    return helseid


def test_sign_in_and_out_with_helseid(live_world: World, browser_helseid, page: Page):
    from tests.portal.test_oidc import KARI

    assert public_part  # the client was registered with its public key only
    violations = watch_csp(page)
    browser_helseid.person = person(KARI)
    page.goto("/logg-inn/")
    page.get_by_role("link", name="Logg inn med HelseID").click()
    expect(page.locator("h1")).to_have_text("Du har ikke tilgang ennå")
    assert browser_helseid.seen.par_requests == 1
    page.get_by_role("button", name="Logg ut").click()
    expect(page).to_have_url(re.compile(r"/logg-inn/$"))
    expect(page.locator("main")).to_contain_text("Du er logget ut")
    assert browser_helseid.seen.ended_sessions
    assert violations == []
