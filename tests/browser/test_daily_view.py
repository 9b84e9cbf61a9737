"""Through a real browser: data sent through the intake API with real tokens, a snapshot refresh that registry
staff start from the overview, and then the numbers as a municipality user, a specialist and registry staff
see them; filtering with htmx, commenting a large change, and no serious or critical axe violation."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from submissions.models import ChangeComment, SnapshotRun
from submissions.snapshot import snapshot_run_execute
from tests.browser.test_extensions import serious_violations, sign_in, sign_out
from tests.conftest import World
from tests.submissions.conftest import (  # noqa: F401 (fixtures: a local issuer with a key file per test)
    YEAR,
    Tokens,
    build_message,
    full_period,
    issuer,
    issuer_pem,
    kpr_record,
    npr_record,
)

LAST = YEAR - 1


@pytest.fixture
def send(live_server, issuer, live_world):  # noqa: F811
    """POST a message over HTTP to the live server's API with a real token for its sender."""
    tokens = Tokens(issuer)

    def send(submitter, records, **overrides):
        message = build_message(submitter, records=records, **overrides)
        request = urllib.request.Request(  # noqa: S310 (the live server on loopback)
            f"{live_server.url}/api/v1/messages",
            data=json.dumps(message).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {tokens.valid(submitter.org_number)}",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            assert response.status == 201
            receipt = json.load(response)
        assert receipt["status"] == "accepted", receipt
        return receipt

    return send


def _cell(page: Page, table: str, row: str, column: str):
    return page.locator(f"table[data-table='{table}'] tr[{row}] td[data-{column}]")


def test_three_users_see_the_numbers_sent_through_the_api(live_world: World, page: Page, send):
    municipality, specialist = live_world.municipality, live_world.specialist
    # The municipality: 12 users of safety alarms (6) last year, none this year; home care (10) both years.
    send(
        municipality,
        [
            kpr_record(f"a{n}", patient_ref=f"a{n}", service_code="6", event_date=f"{LAST}-02-0{1 + n % 9}")
            for n in range(12)
        ]
        + [kpr_record(f"h{n}", patient_ref=f"h{n}", event_date=f"{LAST}-03-10") for n in range(4)],
        mode="full",
        period=full_period(LAST),
    )
    send(municipality, [kpr_record(f"t{n}", patient_ref=f"h{n}", event_date=f"{YEAR}-03-1{n}") for n in range(4)])
    send(municipality, [kpr_record("t-extra", patient_ref="h0", event_date=f"{YEAR}-04-02")])
    # The specialist: three outpatient contacts by two patients, one admission.
    send(
        specialist,
        [
            npr_record("n1", patient_ref="p1", event_date=f"{YEAR}-05-02"),
            npr_record("n2", patient_ref="p1", event_date=f"{YEAR}-05-20"),
            npr_record("n3", patient_ref="p2", event_date=f"{YEAR}-06-01", condition_codes=["J45"]),
            npr_record("n4", patient_ref="p2", event_date=f"{YEAR}-06-03", contact_kind="admission"),
        ],
    )
    violations: list[str] = []

    # Registry staff refresh every number from the overview; the worker's task runs it.
    sign_in(page, live_world.staff_user.username)
    page.get_by_role("link", name="Rapporteringsgrad").click()
    expect(page.locator("h1")).to_have_text("Rapportering og mottatte data")
    page.get_by_role("button", name="Oppdater alle tallene nå").click()
    expect(page.locator(".messages")).to_contain_text("beregnes på nytt")
    run = SnapshotRun.objects.get(status="pending")
    snapshot_run_execute(run_id=run.pk)
    page.reload()
    expect(page.locator("[data-as-of]")).to_contain_text("sist oppdatert")
    page.get_by_label("År", exact=True).select_option(str(YEAR))  # htmx swaps the results
    changes = page.locator("table[data-table='changes']")
    expect(
        changes.locator(f"tr[data-submitter='{municipality.pk}'][data-category='6'] td[data-previous-users]")
    ).to_have_text("12")
    expect(changes.locator(f"tr[data-submitter='{municipality.pk}'][data-category='6'] td[data-users]")).to_have_text(
        "0"
    )
    violations += serious_violations(page, "overview")
    sign_out(page)

    # The municipality user goes from its submitter page to the received data.
    sign_in(page, live_world.municipality_user.username)
    page.goto(f"/innsendere/{municipality.pk}/")
    page.get_by_role("link", name=re.compile("Mottatte data per måned")).click()
    expect(page.locator("h1")).to_have_text("Mottatte data")
    page.get_by_label("År", exact=True).select_option(str(YEAR))
    expect(_cell(page, "months", "data-month='3'", "records")).to_have_text("4")
    expect(_cell(page, "months", "data-month='3'", "previous-records")).to_have_text("4")
    expect(_cell(page, "months", "data-month='2'", "previous-users")).to_have_text("12")
    expect(_cell(page, "months", "data-month='total'", "records")).to_have_text("5")
    expect(_cell(page, "months", "data-month='total'", "users")).to_have_text("4")  # h0 twice, counted once
    expect(_cell(page, "months", "data-month='total'", "previous-users")).to_have_text("16")
    alarm = page.locator("tr[data-category='service_code:6']")
    expect(alarm).to_have_attribute("data-flag", "vanished")
    expect(page.locator("[data-missing='category'][data-category='service_code:6']")).to_be_visible()
    violations += serious_violations(page, "received data")

    # Filtering by category swaps the month table (htmx) and keeps the URL shareable.
    page.get_by_label("Kategori", exact=True).select_option("service_code:6")
    expect(page).to_have_url(re.compile(r"kategori=service_code%3A6"))
    expect(_cell(page, "months", "data-month='2'", "previous-users")).to_have_text("12")
    expect(_cell(page, "months", "data-month='3'", "records")).to_have_text("0")

    # The member explains the vanished safety alarms.
    alarm.locator("summary", has_text="Forklar endringen").click()
    alarm.get_by_label(re.compile("Årsaken til endringen")).fill(
        "Trygghetsalarm ble rapportert som 10 etter systembytte."
    )
    alarm.get_by_role("button", name="Lagre kommentaren").click()
    expect(page.locator(".messages")).to_contain_text("Kommentaren er lagret")
    assert ChangeComment.objects.get().author == live_world.municipality_user
    sign_out(page)

    # The specialist sees its NPR numbers by contact kind and ICD-10 chapter, and nothing of the municipality's.
    sign_in(page, live_world.specialist_user.username)
    page.goto(f"/innsendere/{specialist.pk}/mottatte-data/?aar={YEAR}")
    expect(page.locator("h2#summary-heading")).to_have_text(f"NPR {YEAR}")
    expect(_cell(page, "months", "data-month='5'", "records")).to_have_text("2")
    expect(_cell(page, "months", "data-month='5'", "users")).to_have_text("1")
    expect(_cell(page, "contact_kind", "data-category='contact_kind:outpatient'", "users")).to_have_text("2")
    expect(_cell(page, "contact_kind", "data-category='contact_kind:admission'", "records")).to_have_text("1")
    expect(_cell(page, "icd_chapter", "data-category='icd_chapter:V'", "users")).to_have_text("2")
    expect(_cell(page, "icd_chapter", "data-category='icd_chapter:X'", "users")).to_have_text("1")
    violations += serious_violations(page, "specialist's received data")
    response = page.goto(f"/innsendere/{municipality.pk}/mottatte-data/")
    assert response.status == 404
    page.goto("/")
    sign_out(page)

    # Registry staff read the municipality's comment in the overview.
    sign_in(page, live_world.staff_user.username)
    page.goto(f"/mottatte-data/?aar={YEAR}")
    row = page.locator(f"table[data-table='changes'] tr[data-submitter='{municipality.pk}'][data-category='6']")
    expect(row.locator("[data-comment]")).to_have_text("Trygghetsalarm ble rapportert som 10 etter systembytte.")

    assert not violations, "Serious or critical axe violations:\n" + "\n".join(violations)


def test_the_filters_work_without_javascript(live_world: World, browser, browser_context_args: dict, send):
    send(live_world.municipality, [kpr_record("x", event_date=f"{YEAR}-02-02", service_code="6")])
    run = SnapshotRun.objects.create(scope="all")
    snapshot_run_execute(run_id=run.pk)
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_world.municipality_user.username)
        page.goto(f"/innsendere/{live_world.municipality.pk}/mottatte-data/")
        page.get_by_label("År", exact=True).select_option(str(YEAR))
        page.get_by_label("Kategori", exact=True).select_option("service_code:6")
        page.get_by_role("button", name="Vis").click()
        expect(page).to_have_url(re.compile(rf"aar={YEAR}.*kategori=service_code%3A6"))
        expect(_cell(page, "months", "data-month='2'", "records")).to_have_text("1")
    finally:
        context.close()
