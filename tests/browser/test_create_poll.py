"""In a real browser: "Create N plans in ESA" on a job with no plans, then the job page's poll alone
(no reload) shows the plans and the create's outcome; and while no worker takes the create, the
page says that it waits for a worker, and why (issue 20: the page that "seemed frozen")."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.accounts import OPERATOR, log_in
from tests.workers import embedded_worker

pytestmark = pytest.mark.django_db(transaction=True)

NO_RELOAD = "window.__createPollMark"


def _build_two_plans(page: Page, base_url: str, job_id: str) -> None:
    """On the job page: Add plans, two rows, Create 2 plans in ESA; back on the job page, marked so
    that a reload would show."""
    page.goto(f"{base_url}/jobs/{job_id}/")
    expect(page.locator("table.plans")).to_contain_text("This job has no plans.")
    page.get_by_role("link", name="Add plans").click()
    rows = page.locator("[data-testid=rows] tbody tr[data-row]")
    expect(rows).to_have_count(1)
    rows.nth(0).locator("input[name^=start-]").fill("2031-06-01T09:00")
    rows.nth(0).locator("input[name^=end-]").fill("2031-06-01T10:00")
    page.get_by_role("button", name="Add a plan").click()
    expect(rows).to_have_count(2)
    rows.nth(1).locator("input[name^=start-]").fill("2031-06-02T09:00")
    rows.nth(1).locator("input[name^=end-]").fill("2031-06-02T10:00")
    expect(page.get_by_test_id("submit")).to_have_text("Create 2 plans in ESA")
    page.get_by_test_id("submit").click()
    page.wait_for_url(f"{base_url}/jobs/{job_id}/")
    page.evaluate(f"{NO_RELOAD} = true")


def _plans_shown_without_reload(page: Page) -> None:
    plans = page.locator("tr[data-plan]")
    expect(plans).to_have_count(2)
    for index in range(2):
        expect(plans.nth(index).get_by_test_id("plan-status")).to_have_text("waiting")
    operation = page.locator("table.operations tr[data-operation]").first
    expect(operation).to_contain_text("Create plans")
    expect(operation.locator(".badge")).to_have_text("succeeded")
    expect(page.get_by_test_id("job-feedback")).to_have_count(0)  # "Creating plans…" gone
    assert page.evaluate(NO_RELOAD) is True, "the page was loaded again"


@pytest.mark.usefixtures("celery_worker")
def test_created_plans_show_on_the_job_page_without_a_reload(
    page: Page, live_server: LiveServer, operator: User, esa: EsaClient
) -> None:
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Create then poll", urls=[f"https://example.com/c/{n}" for n in range(40)]
    )
    esa_sync(client=esa)
    log_in(page, live_server.url, OPERATOR)
    _build_two_plans(page, live_server.url, job.id)
    _plans_shown_without_reload(page)
    expect(page.get_by_test_id("operation-wait")).to_have_text("")


def test_a_create_no_worker_takes_says_so_then_shows_its_plans_once_a_worker_runs(
    page: Page, live_server: LiveServer, operator: User, esa: EsaClient, settings: Settings, tmp_path: Path
) -> None:
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 0  # say it at once: no clock in the test
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Nobody works", urls=[f"https://example.com/w/{n}" for n in range(40)]
    )
    esa_sync(client=esa)
    log_in(page, live_server.url, OPERATOR)
    _build_two_plans(page, live_server.url, job.id)
    note = page.get_by_test_id("operation-wait")
    expect(note).to_contain_text("Create plans has waited for a worker since")
    expect(note).to_contain_text("no worker is running that takes tasks from the “celery” queue")
    expect(page.get_by_test_id("job-feedback")).to_have_text("Creating plans…")
    page.screenshot(path=str(tmp_path / "waits-for-a-worker.png"), full_page=True)
    with embedded_worker():
        _plans_shown_without_reload(page)
        expect(note).to_have_text("")
