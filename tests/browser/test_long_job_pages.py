"""In a real browser (Debian's Chromium driven by Playwright): a job of 60 plans, on a phone and
on a desktop, and a stop-all that asks first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.incidents.models import Incident
from prefetch_ui.prefetch.models import Plan
from tests.accounts import OPERATOR, log_in
from tests.factories import JobFactory, PlanFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def long_job() -> tuple[str, list[str]]:
    """A job of 60 waiting plans on example.com, straight in the mirror (no ESA needed to look)."""
    now = datetime.now(UTC)
    job = JobFactory.create(esa_id="6650aaaaaaaaaaaaaaaaaaaa", name="Long catalogue", url_count=6000)
    plans = Plan.objects.bulk_create(
        PlanFactory.build(
            esa_id=f"6650bbbbbbbbbbbbbbbbbb{index:02d}",
            job=job,
            start_time=now + timedelta(days=30, hours=index),
            end_time=now + timedelta(days=30, hours=index, minutes=50),
            interval=60,
            slice_len=10,
            status="waiting",
        )
        for index in range(60)
    )
    return job.esa_id, [plan.esa_id for plan in plans]


def _fits(page: Page) -> None:
    """Nothing makes the page scroll sideways, and the top bar spans it."""
    assert page.locator("style").count() == 0  # htmx adds none either (htmx-config in _base.html)
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.locator("header.topbar").bounding_box()["width"] == width  # type: ignore[index]


def test_pages_fit_a_phone_and_the_plan_editor_comes_into_view(
    page: Page, live_server: LiveServer, operator: User, long_job: tuple[str, list[str]], tmp_path: Path
) -> None:
    job_id, plan_ids = long_job
    log_in(page, live_server.url, OPERATOR)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", f"/sites/{DEMO_SITE_ID}/", f"/jobs/{job_id}/", f"/jobs/{job_id}/plans/new/"):
        page.goto(f"{live_server.url}{path}")
        _fits(page)
    page.screenshot(path=str(tmp_path / "builder-390.png"), full_page=True)

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/jobs/{job_id}/")
    last = page.locator(f'tr[data-plan="{plan_ids[-1]}"]')
    expect(last.get_by_test_id("plan-id")).to_have_text("…" + plan_ids[-1][-8:])
    last.get_by_role("button", name="Edit").click()
    editor = page.get_by_test_id("plan-editor")
    expect(editor).to_be_in_viewport()
    expect(editor.locator("input[name=start_time]")).to_be_focused()
    editor.get_by_role("link", name="Cancel").click()
    expect(editor).to_have_count(0)


def test_holding_a_site_names_what_will_happen_before_anything_is_sent(
    page: Page, live_server: LiveServer, operator: User, long_job: tuple[str, list[str]]
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/sites/{DEMO_SITE_ID}/")
    page.get_by_test_id("hold-site").click()
    expect(page.get_by_test_id("hold-waiting")).to_contain_text("60 waiting plans will be held")
    expect(page.get_by_test_id("hold-running")).to_contain_text("0 running plans will be stopped")
    expect(page.get_by_test_id("hold-confirm")).to_have_text("Hold 60 plans on example.com")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_test_id("hold-site")).to_be_visible()
    assert not Incident.objects.exists()  # cancelled: nothing was sent
