"""In a real browser (Debian's Chromium driven by Playwright): an operator builds plans in a zone."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.tasks import esa_sync_task
from tests.accounts import OPERATOR, log_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_an_operator_builds_three_plans_in_a_chosen_zone(
    page: Page,
    live_server: LiveServer,
    operator: User,
    esa: EsaClient,
    sim: RunningSimulator,
    tmp_path: Path,
) -> None:
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID,
        name="Summer launch",
        # More than the two typed rows submit (610 + 1,820), so the generator has some left to plan.
        urls=[f"https://example.com/s/{index}" for index in range(5_000)],
    )
    esa_sync_task.delay()
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    page.get_by_role("link", name="Add plans").click()
    page.select_option("[data-testid=zone]", "Europe/London")
    # The builder is drawn again in the new zone before anything is typed in it.
    expect(page.locator("input[name=rows_zone]")).to_have_value("Europe/London")
    rows = page.locator("[data-testid=rows] tbody tr[data-row]")
    expect(rows).to_have_count(1)
    rows.nth(0).locator("input[name^=start-]").fill("2031-06-01T09:00")
    rows.nth(0).locator("input[name^=end-]").fill("2031-06-01T10:00")

    page.get_by_role("button", name="Add a plan").click()  # added, and kept
    expect(rows).to_have_count(2)
    rows.nth(1).locator("input[name^=start-]").fill("2031-06-02T09:00")
    rows.nth(1).locator("input[name^=end-]").fill("2031-06-02T10:30")
    rows.nth(1).locator("input[name^=slice_len-]").fill("20")

    page.get_by_role("button", name="Add a plan").click()  # added, then removed
    expect(rows).to_have_count(3)
    rows.nth(2).get_by_role("button", name="Remove").click()
    expect(rows).to_have_count(2)
    # What was typed survived both round trips.
    expect(rows.nth(0).locator("input[name^=start-]")).to_have_value("2031-06-01T09:00")
    expect(rows.nth(1).locator("input[name^=slice_len-]")).to_have_value("20")

    page.get_by_text("Generate plans for this job's remaining URLs").click()
    page.fill("input[name=gen_start]", "2031-06-03T09:00")
    page.fill("input[name=gen_end]", "2031-06-03T12:00")
    page.fill("input[name=gen_plans]", "1")
    page.get_by_role("button", name="Add the generated plans").click()
    expect(rows).to_have_count(3)
    expect(page.locator("[data-testid=preview] tbody tr")).to_have_count(3)
    page.screenshot(path=str(tmp_path / "builder.png"), full_page=True)

    page.get_by_test_id("submit").click()
    page.wait_for_url(f"{live_server.url}/jobs/{job.id}/")
    plans = page.locator("tr[data-plan]")
    expect(plans).to_have_count(3, timeout=60_000)
    for index in range(3):
        expect(plans.nth(index).get_by_test_id("plan-status")).to_have_text("waiting", timeout=60_000)
    # The builder's zone was for the builder only: the job page keeps the operator's own zone, and
    # shows the same instants there (09:00 in London, UTC+1, is 16:00 in Shanghai, UTC+8).
    expect(page.locator("p.hint")).to_contain_text("Times in Asia/Shanghai")
    expect(plans.nth(0)).to_contain_text("2031-06-01 16:00:00 +08:00 → 2031-06-01 17:00:00 +08:00")
    expect(plans.nth(1)).to_contain_text("2031-06-02 16:00:00 +08:00 → 2031-06-02 17:30:00 +08:00")
    expect(plans.nth(2)).to_contain_text("2031-06-03 16:00:00 +08:00 → 2031-06-03 19:00:00 +08:00")
    page.screenshot(path=str(tmp_path / "job-with-plans.png"), full_page=True)
    (call,) = sim.calls("CreateScheduledPreloadExecutions")
    assert '"StartTime":"2031-06-01T08:00:00Z"' in call["params"]["Executions"]  # BST is UTC+1


def test_enter_in_a_row_draws_the_preview_again_and_never_adds_a_row(
    page: Page, live_server: LiveServer, operator: User, esa: EsaClient, sim: RunningSimulator
) -> None:
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Enter key", urls=[f"https://example.com/e/{index}" for index in range(50)]
    )
    esa_sync_task.delay()
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    page.get_by_role("link", name="Add plans").click()
    rows = page.locator("[data-testid=rows] tbody tr[data-row]")
    expect(rows).to_have_count(1)
    # Mark the builder as drawn now: an answer to the Enter replaces it with one unmarked.
    page.evaluate("document.getElementById('builder').dataset.before = 'enter'")
    interval = rows.nth(0).locator("input[name^=interval-]")
    interval.fill("120")
    interval.press("Enter")
    expect(page.locator("#builder[data-before]")).to_have_count(0)
    expect(rows).to_have_count(1)
    expect(rows.nth(0).locator("input[name^=interval-]")).to_have_value("120")
    expect(page.get_by_test_id("submit")).to_have_text("Create 1 plan in ESA")
