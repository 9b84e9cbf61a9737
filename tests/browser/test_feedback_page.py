"""The feedback page in a real browser: a member downloads an archive, staff order activity feedback
without JavaScript, and no serious or critical axe violation."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from feedback import services
from feedback.models import FeedbackReport
from tests.browser.test_submitter_page import _serious_violations, sign_in
from tests.conftest import World
from tests.feedback.conftest import YEAR, finding, make_submission


def _feedback(world: World, monkeypatch) -> FeedbackReport:
    monkeypatch.setattr("feedback.services.queue.send", lambda *args: None)  # no worker here
    submission = make_submission(
        world.municipality, register="KPR", status="accepted_with_errors", findings=[finding("KPR-002", "r1")]
    )
    services.feedback_for_submission(submission_id=submission.pk)
    report = FeedbackReport.objects.get(submission=submission)
    services.report_produce(report_id=report.pk)
    services.activity_request(user=world.staff_user, submitter=world.municipality, register="KPR", year=YEAR)
    report.refresh_from_db()
    return report


def test_a_member_downloads_feedback_and_the_page_is_accessible(live_world: World, page: Page, monkeypatch):
    report = _feedback(live_world, monkeypatch)
    sign_in(page, live_world.municipality_user.username)
    page.goto(f"/innsendere/{live_world.municipality.pk}/")
    page.get_by_role("link", name=re.compile("Tilbakemeldinger å laste ned")).click()
    expect(page.locator("h1")).to_have_text("Tilbakemeldinger")
    row = page.locator(f'tr[data-report="{report.pk}"]')
    expect(row).to_contain_text("Innholdsvalidering")
    expect(row).to_contain_text("Kari Teknisk")
    with page.expect_download() as info:
        row.get_by_role("link", name=re.compile("Last ned")).click()
    assert info.value.suggested_filename == report.file_name
    found = _serious_violations(page, "feedback (member)")
    assert not found, "Serious or critical axe violations:\n" + "\n".join(found)


def test_staff_order_activity_feedback_without_javascript(
    live_world: World, browser: Browser, browser_context_args: dict, monkeypatch
):
    _feedback(live_world, monkeypatch)
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_world.staff_user.username)
        page.goto(f"/innsendere/{live_world.municipality.pk}/tilbakemeldinger/")
        page.locator("#id_year").fill(str(YEAR))
        page.get_by_role("button", name="Lag og send").click()
        expect(page.locator(".messages")).to_contain_text("lages nå")
        assert FeedbackReport.objects.filter(kind="activity", requested_by=live_world.staff_user).count() == 2
    finally:
        context.close()


def test_the_staff_view_is_accessible(live_world: World, page: Page, monkeypatch):
    _feedback(live_world, monkeypatch)
    sign_in(page, live_world.staff_user.username)
    page.goto(f"/innsendere/{live_world.municipality.pk}/tilbakemeldinger/")
    expect(page.get_by_role("button", name="Send passordet på nytt")).to_be_visible()
    found = _serious_violations(page, "feedback (staff)")
    assert not found, "Serious or critical axe violations:\n" + "\n".join(found)
