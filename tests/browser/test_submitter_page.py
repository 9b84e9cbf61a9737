"""Through a real browser: sign in, find your submitter, read its contacts and readiness; search with
and without JavaScript; and no serious or critical axe violation on the pages a submitter sees."""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.conftest import PASSWORD, World

SERIOUS = {"serious", "critical"}


def sign_in(page: Page, username: str) -> None:
    page.goto("/logg-inn/")
    page.locator("#id_username").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"^[^?]*/$"))


def results(page: Page):
    return page.locator("#submitter-results")


def test_municipality_user_reads_contacts_and_readiness(live_world: World, page: Page):
    municipality = live_world.municipality
    contact = municipality.contacts.get()

    sign_in(page, live_world.municipality_user.username)

    expect(results(page).locator("tbody tr")).to_have_count(1)
    expect(results(page).get_by_role("link", name="Oslo kommune")).to_be_visible()
    for other in (live_world.specialist.name, live_world.other_specialist.name):
        expect(page.locator("main")).not_to_contain_text(other)

    results(page).get_by_role("link", name="Oslo kommune").click()
    expect(page).to_have_url(re.compile(rf"/innsendere/{municipality.pk}/$"))
    expect(page.locator("h1")).to_have_text("Oslo kommune")

    rows = page.locator("section[aria-labelledby=contacts-heading] table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("th")).to_have_text(contact.name)
    expect(rows.first).to_contain_text(contact.email)
    expect(rows.first).to_contain_text(contact.mobile)

    # Kari (type 1) has an e-mail address and a valid mobile: schema validation feedback can be opened.
    schema = page.locator('[data-readiness="schema_validation"]')
    expect(schema).to_be_visible()
    expect(schema).to_have_attribute("data-color", "success")
    expect(schema.locator("h3")).to_contain_text(re.compile(r"\b1\b\D+\b15\b"))


def _serious_violations(page: Page, name: str) -> list[str]:
    found = []
    for violation in Axe().run(page).response["violations"]:
        if violation.get("impact") not in SERIOUS:
            continue
        nodes = "\n".join(
            f"      {node.get('target')} {node.get('html', '')[:200]}\n        {node.get('failureSummary', '')}"
            for node in violation["nodes"]
        )
        found.append(
            f"{name} {page.url}: {violation['id']} ({violation['impact']}) {violation['help']}\n"
            f"    {violation.get('helpUrl', '')}\n{nodes}"
        )
    return found


def test_pages_have_no_serious_accessibility_violations(live_world: World, page: Page):
    found = []
    page.goto("/logg-inn/")
    found += _serious_violations(page, "login")

    page.locator("#id_username").fill(live_world.municipality_user.username)
    page.locator("input[name=password]").fill("wrong password")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("main [role=alert]")).to_be_visible()
    found += _serious_violations(page, "login with an error")

    sign_in(page, live_world.municipality_user.username)
    found += _serious_violations(page, "home")

    page.goto(f"/innsendere/{live_world.municipality.pk}/")
    expect(page.locator('[data-readiness="schema_validation"]')).to_be_visible()
    found += _serious_violations(page, "submitter")

    assert not found, "Serious or critical axe violations:\n" + "\n".join(found)


def test_staff_search_swaps_in_results_without_reloading(live_world: World, page: Page):
    sign_in(page, live_world.staff_user.username)
    expect(results(page).locator("tbody tr")).to_have_count(3)
    page.evaluate("window.__sameDocument = true")

    with page.expect_response(lambda response: "q=Psykiater" in response.url) as info:
        page.locator("#id_q").fill("Psykiater")
    response = info.value
    assert response.request.headers.get("hx-request") == "true"
    assert "<html" not in response.text(), "the htmx request should get the results partial, not a page"

    expect(results(page).locator("tbody tr")).to_have_count(1)
    expect(results(page).get_by_role("link", name="Psykiater Hansen")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]q=Psykiater"))  # hx-push-url
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"


def test_staff_search_works_without_javascript(live_world: World, browser: Browser, browser_context_args: dict):
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_world.staff_user.username)
        expect(results(page).locator("tbody tr")).to_have_count(3)

        page.locator("#id_q").fill("Psykiater")
        page.locator("form[role=search] button[type=submit]").click()

        expect(page).to_have_url(re.compile(r"[?&]q=Psykiater"))
        expect(results(page).locator("tbody tr")).to_have_count(1)
        expect(results(page).get_by_role("link", name="Psykiater Hansen")).to_be_visible()
    finally:
        context.close()
