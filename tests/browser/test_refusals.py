"""In a real browser (Debian's Chromium driven by Playwright): a request the server refuses, or
that fails, is told in the page's notice (htmx swaps no 4xx/5xx answer, so without it a button
would seem to do nothing), and a failing poll says once that live updates are paused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, Route, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.incidents.models import Incident, IncidentStatus
from prefetch_ui.prefetch.models import Operation, Plan, PlanStatus
from tests.accounts import OPERATOR, VIEWER, log_in
from tests.factories import JobFactory, PlanFactory

pytestmark = pytest.mark.django_db(transaction=True)

# How long a test waits for the next poll (every 2 s): a bound that only stops a broken page from
# hanging the run, never a measure of speed.
POLL_TIMEOUT = 60_000

# Counts each time the notice's text is set (a screen reader would announce each).
COUNT_NOTICES = """() => {
    const notice = document.querySelector("[data-notice-text]");
    window.__notices = [];
    new MutationObserver(() => {
        if (notice.textContent) window.__notices.push(notice.textContent);
    }).observe(notice, {childList: true, characterData: true, subtree: true});
}"""


def _script_errors(page: Page) -> list[str]:
    """What static/js/app.js (or any script) threw. htmx itself logs each failed request to the
    console ("Response Status Error Code 409 from …"): that is expected, not a script error."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_start_on_a_site_held_meanwhile_shows_the_reason_in_the_notice(
    page: Page, live_server: LiveServer, operator: User
) -> None:
    plan = PlanFactory.create(
        job=JobFactory.create(name="Spring sale"),
        start_time=timezone.now() + timedelta(days=1),
        status=PlanStatus.STOPPED,
    )
    errors = _script_errors(page)
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/jobs/{plan.job.esa_id}/")
    notice = page.get_by_test_id("request-notice-text")
    expect(page.get_by_test_id("request-notice")).to_be_hidden()

    # Another operator holds the site while this page still offers Start.
    incident = Incident.objects.create(site=plan.job.site, status=IncidentStatus.HOLDING, held_by=operator)
    page.locator(f'tr[data-plan="{plan.esa_id}"]').get_by_role("button", name="Start").click()

    expect(notice).to_have_text(
        f"example.com is held by incident #{incident.pk} (hold of example.com): "
        "nothing that sends URLs can start until it is resumed."
    )
    expect(page.get_by_role("alert")).to_have_text(re.compile(rf"held by incident #{incident.pk}"))
    assert not Operation.objects.exists()
    page.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_test_id("request-notice")).to_be_hidden()
    expect(page.get_by_role("alert")).to_have_count(0)
    assert errors == []


def test_a_failing_poll_pauses_live_updates_once_and_clears_when_polls_succeed(
    page: Page, live_server: LiveServer, viewer: User
) -> None:
    job = JobFactory.create(name="Spring sale", url_count=100)
    PlanFactory.create(job=job, start_time=timezone.now(), status=PlanStatus.RUNNING)
    errors = _script_errors(page)
    log_in(page, live_server.url, VIEWER)
    failed: list[str] = []

    def server_down(route: Route) -> None:
        failed.append(route.request.url)
        # A proxy's error page: HTML, never shown as it is.
        route.fulfill(status=502, content_type="text/html", body="<html><h1>502 Bad Gateway</h1></html>")

    page.goto(f"{live_server.url}/jobs/{job.esa_id}/")
    page.evaluate(COUNT_NOTICES)
    page.route(lambda url: "poll=1" in url, server_down)
    notice = page.get_by_test_id("request-notice-text")
    paused = "Live updates paused: the server answered HTTP 502; retrying."
    expect(notice).to_have_text(paused, timeout=POLL_TIMEOUT)
    for _ in range(2):  # two more polls, each failing
        with page.expect_response(lambda response: "poll=1" in response.url, timeout=POLL_TIMEOUT):
            pass
    assert len(failed) >= 3
    assert page.evaluate("window.__notices") == [paused]  # told once, not at every poll
    expect(notice).to_have_text(paused)

    page.unroute_all()
    expect(page.get_by_test_id("request-notice")).to_be_hidden(
        timeout=POLL_TIMEOUT
    )  # the next poll got its 204
    expect(notice).to_be_empty()
    expect(page.locator(f'tr[data-plan="{Plan.objects.get().esa_id}"]')).to_be_visible()
    assert errors == []
