"""Through a real browser: a municipality user applies for a later deadline, registry staff grant it with
another date, and the municipality sees its new deadline; with and without JavaScript, and no serious or
critical axe violation on the deadline pages."""

from __future__ import annotations

import datetime
import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from submissions.models import Deadline, Extension
from tests.conftest import PASSWORD, World

SERIOUS = {"serious", "critical"}


def sign_in(page: Page, username: str) -> None:
    page.goto("/logg-inn/")
    page.locator("#id_username").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"^[^?]*/$"))


def sign_out(page: Page) -> None:
    page.locator("header form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/logg-inn/"))


def kpr_deadline() -> Deadline:
    """The annual KPR deadline for 2030 (15 January 2031); created here because a transactional test
    before this one may have flushed the seeded calendar."""
    deadline, _ = Deadline.objects.get_or_create(
        register="KPR",
        period_start=datetime.date(2030, 1, 1),
        period_end=datetime.date(2030, 12, 31),
        due_date=datetime.date(2031, 1, 15),
        defaults={"submitter_kinds": ["municipality"], "cumulative": True, "message_kinds": ["activity", "ident"]},
    )
    return deadline


def serious_violations(page: Page, name: str) -> list[str]:
    found = []
    for violation in Axe().run(page).response["violations"]:
        if violation.get("impact") in SERIOUS:
            targets = ", ".join(str(node.get("target")) for node in violation["nodes"])
            found.append(f"{name} {page.url}: {violation['id']} ({violation['impact']}) {violation['help']}: {targets}")
    return found


def apply_for_more_time(page: Page, deadline: Deadline) -> None:
    page.get_by_label("Periode").select_option(str(deadline.pk))
    page.get_by_label("Ny frist du ber om").fill("2031-02-15")
    page.get_by_label("Begrunnelse").fill("Vi byttet journalsystem i november og trenger tid til å rette feil.")
    page.get_by_role("button", name="Send søknad").click()


def test_a_municipality_applies_and_staff_grant_with_another_date(live_world: World, page: Page):
    deadline = kpr_deadline()
    municipality = live_world.municipality
    violations: list[str] = []

    # The municipality user finds the deadlines from the submitter page and applies.
    sign_in(page, live_world.municipality_user.username)
    page.goto(f"/innsendere/{municipality.pk}/")
    page.get_by_role("link", name=re.compile("Rapporteringsfrister")).click()
    expect(page).to_have_url(re.compile(rf"/innsendere/{municipality.pk}/frister/"))
    expect(page.locator("h1")).to_have_text("Frister")
    violations += serious_violations(page, "deadlines")

    apply_for_more_time(page, deadline)
    expect(page.locator(".messages")).to_contain_text("sendt til registeret")
    history = page.locator("section[aria-labelledby=history-heading] tbody tr")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("15. januar 2031")
    expect(history.first).to_contain_text("15. februar 2031")
    extension = Extension.objects.get()
    assert (extension.status, extension.requested_by) == (Extension.Status.OPEN, live_world.municipality_user)

    # A second request for the same period is not offered while the first is open.
    expect(page.get_by_label("Periode").locator(f"option[value='{deadline.pk}']")).to_have_count(0)
    sign_out(page)

    # Registry staff open the queue from the menu and grant a shorter extension than asked for.
    sign_in(page, live_world.staff_user.username)
    page.get_by_role("link", name="Frister og utsettelser").click()
    expect(page).to_have_url(re.compile(r"/utsettelser/"))
    violations += serious_violations(page, "queue")
    row = page.locator(f"tr[data-extension='{extension.pk}']")
    expect(row).to_contain_text("Oslo kommune")
    row.get_by_role("link", name="Oslo kommune").click()
    expect(page.locator("h1")).to_contain_text("Oslo kommune")
    expect(page.locator("main")).to_contain_text("Vi byttet journalsystem")
    violations += serious_violations(page, "decision")

    page.get_by_label("Innvilg").check()
    page.get_by_label("Ny frist", exact=True).fill("2031-02-01")
    page.get_by_label("Begrunnelse").fill("Innvilget til 1. februar.")
    page.get_by_role("button", name="Lagre avgjørelse").click()
    expect(page).to_have_url(re.compile(r"/utsettelser/$"))
    expect(page.locator(".messages")).to_contain_text("innvilget")
    extension.refresh_from_db()
    assert extension.status == Extension.Status.GRANTED
    assert extension.granted_date == datetime.date(2031, 2, 1)
    assert extension.decided_by == live_world.staff_user
    sign_out(page)

    # The municipality sees its new deadline and the decision.
    sign_in(page, live_world.municipality_user.username)
    page.goto(f"/innsendere/{municipality.pk}/frister/?aar=2030")
    calendar_row = page.locator(f"tr[data-deadline='{deadline.pk}']")
    expect(calendar_row.locator("[data-effective-deadline]")).to_have_text("1. februar 2031 kl. 23.59")
    expect(calendar_row).to_contain_text("15. januar 2031")
    expect(page.locator("section[aria-labelledby=history-heading]")).to_contain_text("Innvilget til 1. februar.")
    violations += serious_violations(page, "deadlines after the decision")

    assert not violations, "Serious or critical axe violations:\n" + "\n".join(violations)


def test_applying_and_withdrawing_work_without_javascript(
    live_world: World, browser: Browser, browser_context_args: dict
):
    deadline = kpr_deadline()
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_world.municipality_user.username)
        page.goto(f"/innsendere/{live_world.municipality.pk}/frister/")

        # A missing justification is shown by the field, and what was typed is kept.
        page.get_by_label("Periode").select_option(str(deadline.pk))
        page.get_by_label("Ny frist du ber om").fill("2031-02-15")
        page.get_by_role("button", name="Send søknad").click()
        expect(page.locator("#id_justification_error")).to_be_visible()
        expect(page.get_by_label("Ny frist du ber om")).to_have_value("2031-02-15")
        assert not Extension.objects.exists()

        apply_for_more_time(page, deadline)
        expect(page.locator("section[aria-labelledby=history-heading] tbody tr")).to_have_count(1)
        page.get_by_role("button", name=re.compile("Trekk")).click()
        expect(page.locator(".messages")).to_contain_text("trukket")
        assert Extension.objects.get().status == Extension.Status.WITHDRAWN
    finally:
        context.close()
