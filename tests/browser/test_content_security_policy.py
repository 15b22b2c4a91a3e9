"""In a real browser (Debian's Chromium driven by Playwright): every kind of page, and htmx at work on
them, under the Content-Security-Policy as served, without a single violation or console error.

The browser enforces the header; a script added before any page's own (`problems`, in conftest) listens for
`securitypolicyviolation` (what the policy refused: an inline style or script, an eval, a resource
from elsewhere) and for htmx's `htmx:evalDisallowedError` (htmx is told not to eval), and hands
each to the test. The pages are a mirror in every state (`tests.review_estate`), with no ESA behind
them: nothing here sends anything to ESA.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, Response, expect
from pytest_django.live_server_helper import LiveServer

from tests.accounts import OPERATOR, log_in
from tests.core.test_security_headers import POLICY
from tests.review_estate import ReviewEstate, review_estate_create

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def estate(operator: User) -> ReviewEstate:
    # A superuser too, so that the admin is among the pages.
    User.objects.filter(pk=operator.pk).update(is_staff=True, is_superuser=True)
    return review_estate_create(now=timezone.now().replace(second=0, microsecond=0), held_by=operator)


def _visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert response.headers["content-security-policy"] == POLICY, url


def _htmx_answer(path: str) -> Callable[[Response], bool]:
    """An htmx request's answer from `path` (a poll, a swap)."""
    return lambda response: response.request.headers.get("hx-request") == "true" and path in response.url


def test_every_page_and_htmx_work_under_the_policy(
    page: Page, live_server: LiveServer, estate: ReviewEstate, problems: list[str]
) -> None:
    base = live_server.url
    _visit(page, f"{base}/accounts/login/")
    log_in(page, base, OPERATOR)

    # Sites: the zone picker submits its form from app.js (no inline handler).
    _visit(page, f"{base}/")
    page.get_by_test_id("display-zone").select_option("UTC")
    expect(page.get_by_test_id("display-zone")).to_have_value("UTC")

    # Site: its jobs table polls while anything is unfinished.
    site_path = f"/sites/{estate.site.esa_id}/"
    _visit(page, base + site_path)
    with page.expect_response(_htmx_answer(site_path), timeout=60_000):
        pass

    # Job: it polls; Edit brings the plan editor in, a bad value comes back in place, Cancel empties it.
    job = estate.jobs["running"]
    job_path = f"/jobs/{job.esa_id}/"
    _visit(page, base + job_path)
    with page.expect_response(_htmx_answer(job_path), timeout=60_000):
        pass
    row = page.locator(f'tr[data-plan="{estate.plans["running"].esa_id}"]')
    row.get_by_role("button", name="Edit").click()
    editor = page.get_by_test_id("plan-editor")
    expect(editor).to_be_visible()
    editor.locator("input[name=end_time]").fill(editor.locator("input[name=start_time]").input_value())
    editor.get_by_role("button", name="Save changes").click()
    expect(editor.locator(".error")).to_have_text("The end must be after the start.")
    editor.get_by_role("link", name="Cancel").click()
    expect(editor).to_have_count(0)

    # New job: Check URLs posts the form through htmx and swaps in the report.
    _visit(page, f"{base}/sites/{estate.site.esa_id}/jobs/new/")
    page.fill("textarea[name=urls_text]", "https://example.com/a\nftp://example.com/b")
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("url-counts")).to_contain_text("1 valid URL")

    # Plan builder: a row added through htmx, and the live preview drawn for both rows.
    _visit(page, f"{base}/jobs/{estate.jobs['waiting'].esa_id}/plans/new/")
    rows = page.locator("[data-testid=rows] tbody tr[data-row]")
    expect(rows).to_have_count(1)
    page.get_by_role("button", name="Add a plan").click()
    expect(rows).to_have_count(2)
    expect(page.locator("[data-testid=preview] tbody tr")).to_have_count(2)

    # Incidents, the team lead's pages and the admin.
    for path in (
        "/incidents/",
        f"/incidents/{estate.hold.pk}/",
        "/overview/",
        "/timeline/",
        "/audit/",
        "/limits/",
        f"/sites/{estate.site.esa_id}/limits/",
        "/admin/",
        "/admin/prefetch/plan/",
        "/admin/incidents/incident/",
        f"/admin/incidents/incident/{estate.hold.pk}/change/",
        "/admin/incidents/heldplan/",
    ):
        _visit(page, base + path)
        expect(page.locator("h1").first).to_be_visible()

    assert problems == []
