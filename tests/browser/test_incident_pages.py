"""In a real browser (Debian's Chromium driven by Playwright): an operator holds a site and resumes it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator
from prefetch_ui.incidents.models import Incident
from tests.accounts import OPERATOR, log_in
from tests.browser.incident_esa import changing_calls, plans_in_esa, sync_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# The hold and the resume go through the worker at the shared ESA call budget: a bound that only stops
# a broken hold from hanging the run, never a measure of speed.
WORK_TIMEOUT = 120_000
REASON = "origin 5xx at 40% since 14:05"


@pytest.fixture
def sim(one_clock_sim: RunningSimulator) -> RunningSimulator:
    """ESA, the worker, the pages and Django on the clock this test moves (conftest's one_clock_sim)."""
    return one_clock_sim


# The calls that change a plan; a confirmation page must make none of them.
def test_an_operator_holds_a_site_watches_it_settle_sees_the_banner_and_resumes_it(
    page: Page,
    live_server: LiveServer,
    operator: User,
    esa: EsaClient,
    sim: RunningSimulator,
    clock: ManualClock,
) -> None:
    now = clock.moment()
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID,
        name="Spring sale",
        urls=[f"https://example.com/p/{index}" for index in range(1000)],
    )
    created = esa.create_scheduled_preload_executions(
        job.id,
        [
            PlanSpec(now, now + timedelta(hours=1), interval=1, slice_len=2),
            PlanSpec(now, now + timedelta(hours=1), interval=60, slice_len=1),
            PlanSpec(now + timedelta(hours=2), now + timedelta(hours=3), interval=60, slice_len=10),
            PlanSpec(now + timedelta(hours=5), now + timedelta(hours=6), interval=30, slice_len=5),
        ],
    ).succeeded
    running, waiting = created[:2], created[2:]
    clock.forward(1.1)  # the first batch of each plan starting now fires: they are running
    before = plans_in_esa(esa, job.id)
    assert [before[plan.id].status for plan in created] == ["running", "running", "waiting", "waiting"]
    sync_once(esa)

    # The confirmation says what the hold will do, and nothing is sent before it is confirmed.
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/sites/{DEMO_SITE_ID}/")
    page.get_by_test_id("hold-site").click()
    expect(page.get_by_test_id("hold-running")).to_contain_text("2 running plans will be stopped")
    expect(page.get_by_test_id("hold-waiting")).to_contain_text("2 waiting plans will be held")
    expect(page.get_by_test_id("hold-finished")).to_contain_text("0 plans already finished")
    confirm = page.get_by_test_id("hold-confirm")
    expect(confirm).to_have_text("Hold 4 plans on example.com")
    assert Incident.objects.count() == 0
    assert changing_calls(sim) == []

    page.get_by_label("Reason").fill(REASON)
    confirm.click()
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    incident = Incident.objects.get()
    assert page.url == f"{live_server.url}/incidents/{incident.pk}/"
    assert (incident.site is not None and incident.site.esa_id, incident.reason) == (DEMO_SITE_ID, REASON)

    # The live region follows the workers until every plan is held, without a reload.
    live = page.locator("#incident-live")
    expect(live).to_have_attribute("data-status", "held", timeout=WORK_TIMEOUT)
    expect(page.get_by_test_id("incident-status")).to_have_text("Held")
    expect(page.get_by_test_id("incident-progress")).to_have_text("4 of 4")
    held_plans = page.get_by_test_id("held-plans")
    for plan in running:
        expect(held_plans.locator(f'tr[data-held-plan="{plan.id}"]')).to_contain_text("Stopped")
    for plan in waiting:
        expect(held_plans.locator(f'tr[data-held-plan="{plan.id}"]')).to_contain_text("Held (window moved)")

    # Another page: the banner names the scope, who, since when and why, and links to the incident.
    sync_once(esa)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    banner = page.get_by_test_id("hold-banner")
    expect(banner).to_contain_text("Prefetch is held on example.com")
    expect(banner).to_contain_text(f"by {OPERATOR.username} since")
    expect(banner).to_contain_text(REASON)
    link = banner.get_by_role("link", name=f"incident #{incident.pk}")
    expect(link).to_have_attribute("href", f"/incidents/{incident.pk}/")
    # The job page shows its plans held by the incident (stopped and parked alike), not as plain
    # "stopped" or "waiting".
    for plan in running + waiting:
        expect(page.locator(f'tr[data-plan="{plan.id}"]').get_by_test_id("plan-status")).to_have_text("held")

    # Resume: from the banner's link, through the preview, back to the incident page.
    link.click()
    page.get_by_test_id("incident-resume").click()
    expect(page.get_by_test_id("resume-start")).to_contain_text("2 stopped by the hold will be started again")
    expect(page.get_by_test_id("resume-restore")).to_contain_text("2 will get their original window back")
    expect(page.get_by_test_id("resume-lines").locator("tr[data-held-plan]")).to_have_count(4)
    assert sim.calls("StartScheduledPreloadExecution") == []  # the preview sends nothing either
    # As it was: every plan back at once, in its own window (a ramp would move them).
    page.get_by_label("Pace").select_option("as_it_was")
    expect(page.get_by_test_id("resume-confirm")).to_have_text("Resume 4 plans as it was")
    page.get_by_test_id("resume-confirm").click()
    page.wait_for_url(f"{live_server.url}/incidents/{incident.pk}/")
    expect(live).to_have_attribute("data-status", "resumed", timeout=WORK_TIMEOUT)
    expect(page.get_by_test_id("incident-status")).to_have_text("Resumed")
    expect(page.get_by_test_id("incident-progress")).to_have_text("4 of 4")

    # In ESA the plans are back as they were: windows restored, the stopped ones no longer stopped.
    after = plans_in_esa(esa, job.id)
    for plan in waiting:
        assert (after[plan.id].status, after[plan.id].start_time, after[plan.id].end_time) == (
            "waiting",
            before[plan.id].start_time,
            before[plan.id].end_time,
        )
    for plan in running:
        assert after[plan.id].status in ("waiting", "running")
        assert (after[plan.id].start_time, after[plan.id].end_time) == (
            before[plan.id].start_time,
            before[plan.id].end_time,
        )

    sync_once(esa)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    for plan in running:
        expect(page.locator(f'tr[data-plan="{plan.id}"]').get_by_test_id("plan-status")).to_have_text(
            re.compile("^(running|waiting)$")
        )
    for plan in waiting:
        expect(page.locator(f'tr[data-plan="{plan.id}"]').get_by_test_id("plan-status")).to_have_text(
            "waiting"
        )
    expect(page.get_by_test_id("hold-banner")).to_have_count(0)
