"""In a real browser (Debian's Chromium driven by Playwright): an operator builds plans in a zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_SITE_ID, Quotas, SimConfig
from prefetch_ui.esa_sim.testing import RunningSimulator, running_simulator
from prefetch_ui.prefetch.models import Job, SiteLimits
from prefetch_ui.prefetch.tasks import esa_sync_task
from tests.accounts import OPERATOR, log_in
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# example.com's daily prefetch quota in this module's simulator: small enough for a typed batch to
# pass it, more than the other tests' batches send on any day the forecast looks at.
QUOTA = 2_000


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningSimulator]:
    quotas = Quotas(preload_per_site={DEMO_SITE_ID: QUOTA})
    config = SimConfig(state_path=tmp_path / "sim.sqlite3", quotas=quotas)
    with running_simulator(config) as running:
        yield running


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
    # The job's page exists once the worker's sync has mirrored it.
    eventually(lambda: Job.objects.filter(esa_id=job.id).exists())
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
    # The job's page exists once the worker's sync has mirrored it.
    eventually(lambda: Job.objects.filter(esa_id=job.id).exists())
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


def test_the_preview_warns_as_the_operator_types_a_batch_past_the_quota(
    page: Page, live_server: LiveServer, operator: User, esa: EsaClient, sim: RunningSimulator, tmp_path: Path
) -> None:
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Quota", urls=[f"https://example.com/q/{index}" for index in range(3_000)]
    )
    esa_sync_task.delay()
    # The sync reads the site's limits after its jobs: the warning needs the quota.
    eventually(lambda: SiteLimits.objects.filter(preload_quota=QUOTA).exists() and Job.objects.exists())
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/jobs/{job.id}/plans/new/")
    # Tomorrow in Shanghai, the quota's zone and the builder's (the operator's display zone).
    tomorrow = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date()
    row = page.locator("[data-testid=rows] tbody tr[data-row]").nth(0)
    row.locator("input[name^=start-]").fill(f"{tomorrow}T10:00")
    row.locator("input[name^=end-]").fill(f"{tomorrow}T10:59")
    row.locator("input[name^=interval-]").fill("60")
    row.locator("input[name^=slice_len-]").fill("10")
    # 600 URLs: within the quota, said quietly.
    expect(page.get_by_test_id("quota-within")).to_contain_text("2,000 URLs): after this batch 1,400 URLs")
    expect(page.get_by_test_id("quota-warning")).to_have_count(0)
    row.locator("input[name^=slice_len-]").fill("50")  # 3,000 URLs: the job's all, 1,000 past the quota
    warning = page.get_by_test_id("quota-warning")
    expect(warning).to_contain_text(
        f"This batch would send 3,000 URLs on {tomorrow:%b} {tomorrow.day} (Asia/Shanghai quota day)"
    )
    expect(warning).to_contain_text(
        "has 2,000 left that day at the current schedule, so ESA would refuse 1,000 URLs"
    )
    expect(warning).to_contain_text(f"the first at {tomorrow} 10:40:00 +08:00")
    page.screenshot(path=str(tmp_path / "builder-quota.png"), full_page=True)
    # A warning, not a refusal: the batch can still be sent.
    expect(page.get_by_test_id("submit")).to_be_enabled()
