"""In a real browser: the plan editor opens in its plan's row, keeps what is typed while the page
lives around it, closes back to the row, and works without JavaScript as a page of its own."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient
from prefetch_ui.prefetch.models import Operation, Plan
from tests.accounts import OPERATOR, log_in
from tests.factories import JobFactory, PlanFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

PLANS = 30


@pytest.fixture
def job_id(esa: EsaClient) -> str:
    """A job of 30 waiting plans, a day apart a month ahead, straight in the mirror."""
    now = datetime.now(UTC).replace(microsecond=0)
    job = JobFactory.create(esa_id="6670aaaaaaaaaaaaaaaaaaaa", name="Editor test", url_count=3000)
    Plan.objects.bulk_create(
        PlanFactory.build(
            esa_id=f"6670bbbbbbbbbbbbbbbbbb{index:02d}",
            job=job,
            start_time=now + timedelta(days=30 + index),
            end_time=now + timedelta(days=30 + index, hours=1),
            status="waiting",
        )
        for index in range(PLANS)
    )
    return job.esa_id


def _rows(page: Page) -> Locator:
    return page.locator("table.plans > tbody > tr")


def _follows(row: Locator) -> str:
    """What comes right after `row` in its table: the editor's marker, or the next plan's id."""
    return str(
        row.evaluate(
            "row => { const next = row.nextElementSibling;"
            " return next && (next.hasAttribute('data-editor-for')"
            " ? 'editor for ' + next.getAttribute('data-editor-for') : next.getAttribute('data-plan')); }"
        )
    )


def test_edit_opens_the_editor_right_under_its_row_and_cancel_gives_the_row_back(
    page: Page, live_server: LiveServer, operator: User, job_id: str
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/jobs/{job_id}/")
    third_id = _rows(page).nth(2).get_attribute("data-plan")
    fourth_id = _rows(page).nth(3).get_attribute("data-plan")
    third, fourth = page.locator(f'tr[data-plan="{third_id}"]'), page.locator(f'tr[data-plan="{fourth_id}"]')
    assert _follows(third) == fourth_id

    third.get_by_role("button", name="Edit").click()
    editor = page.get_by_test_id("plan-editor")
    expect(editor).to_be_visible()
    assert _follows(third) == f"editor for {third_id}"
    expect(editor).to_contain_text(str(third_id))
    expect(editor.locator("input[name=start_time]")).to_be_focused()
    # In view where the operator clicked: the page did not run to its foot.
    expect(third).to_be_in_viewport()
    expect(page.get_by_role("heading", name="Recent operations")).not_to_be_in_viewport()

    # A second Edit on another row closes the first: one editor at a time, under the row clicked.
    fourth.get_by_role("button", name="Edit").click()
    expect(page.locator(f'tr[data-editor-for="{fourth_id}"]')).to_be_visible()
    expect(page.locator("tr[data-editor-for]")).to_have_count(1)
    assert _follows(third) == fourth_id

    page.get_by_role("link", name="Cancel").click()
    expect(editor).to_have_count(0)
    expect(page.locator("table.plans > tbody > tr[data-plan]")).to_have_count(PLANS)
    expect(_rows(page)).to_have_count(PLANS)
    assert _follows(third) == fourth_id
    expect(fourth.get_by_role("button", name="Edit")).to_be_focused()

    # Escape in a field of the editor is its Cancel.
    third.get_by_role("button", name="Edit").click()
    expect(editor.locator("input[name=start_time]")).to_be_focused()
    page.locator('tr[data-editor-for] input[name="interval"]').focus()
    page.keyboard.press("Escape")
    expect(editor).to_have_count(0)
    expect(third.get_by_role("button", name="Edit")).to_be_focused()


def test_a_refused_save_stays_in_place_and_a_redrawn_page_keeps_what_is_typed(
    page: Page, live_server: LiveServer, operator: User, job_id: str
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/jobs/{job_id}/")
    third_id = _rows(page).nth(2).get_attribute("data-plan")
    third = page.locator(f'tr[data-plan="{third_id}"]')
    third.get_by_role("button", name="Edit").click()
    editor = page.get_by_test_id("plan-editor")
    editor.locator("input[name=end_time]").fill(editor.locator("input[name=start_time]").input_value())
    editor.locator("input[name=interval]").fill("90")
    editor.get_by_role("button", name="Save changes").click()
    expect(editor.locator(".error")).to_have_text("The end must be after the start.")
    assert _follows(third) == f"editor for {third_id}"
    expect(editor.locator("input[name=interval]")).to_have_value("90")

    # Deleting the first plan draws the page's live region again, whole: the editor stays, with
    # what was typed, under its row.
    first = _rows(page).first
    page.once("dialog", lambda dialog: dialog.accept())
    first.get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("plan-feedback").first).to_be_visible()
    third = page.locator(f'tr[data-plan="{third_id}"]')
    assert _follows(third) == f"editor for {third_id}"
    expect(editor.locator("input[name=interval]")).to_have_value("90")

    # Saved: the editor goes, and the plan's update is asked for.
    editor.locator("input[name=end_time]").fill("2099-01-01T10:00:00")
    editor.get_by_role("button", name="Save changes").click()
    expect(editor).to_have_count(0)
    operation = Operation.objects.get(kind="plan_update")
    assert (operation.target_esa_id, operation.params["interval"]) == (third_id, 90)


def test_without_javascript_edit_leads_to_the_editors_own_page(
    chromium: Browser, live_server: LiveServer, operator: User, job_id: str
) -> None:
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server.url, OPERATOR)
        page.goto(f"{live_server.url}/jobs/{job_id}/")
        third_id = _rows(page).nth(2).get_attribute("data-plan")
        _rows(page).nth(2).get_by_role("button", name="Edit").click()
        expect(page).to_have_url(re.compile(rf"/plans/{third_id}/edit/\??$"))
        expect(page.get_by_role("heading", level=1, name=re.compile("Edit plan"))).to_be_visible()
        page.locator("input[name=interval]").fill("75")
        page.get_by_role("button", name="Save changes").click()
        expect(page).to_have_url(f"{live_server.url}/jobs/{job_id}/")
        assert Operation.objects.get(kind="plan_update").params["interval"] == 75
    finally:
        context.close()


def test_on_a_phone_the_editor_fits_the_screen(
    page: Page, live_server: LiveServer, operator: User, job_id: str
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/jobs/{job_id}/")
    _rows(page).nth(2).get_by_role("button", name="Edit").click()
    editor = page.get_by_test_id("plan-editor")
    expect(editor.get_by_role("button", name="Save changes")).to_be_in_viewport()
    box = editor.bounding_box()
    assert box is not None
    # Its left and right edges on the screen, though the table behind it scrolls sideways.
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
