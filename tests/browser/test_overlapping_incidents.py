"""In a real browser (Debian's Chromium driven by Playwright), against the simulator and a real Celery
worker: an operator holds a site and then every site, and resumes them in turn; and resumes plans
whose windows passed during a hold under a ramp whose cap they choose on the page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator
from prefetch_ui.incidents.models import HeldPlan, Incident, IncidentStatus
from prefetch_ui.incidents.services.holds import hold_request
from prefetch_ui.prefetch.models import Site
from tests.accounts import OPERATOR, log_in
from tests.browser.incident_esa import CHANGING_CALLS, plans_in_esa, sync_once
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# Holds and resumes go through the worker at the shared ESA call budget: a bound that only stops a
# broken hold from hanging the run, never a measure of speed.
WORK_TIMEOUT = 120_000
SHOP = SEED_SITES[1]


@pytest.fixture
def sim(one_clock_sim: RunningSimulator) -> RunningSimulator:
    """ESA, the worker, the pages and Django on the clock this test moves (conftest's one_clock_sim)."""
    return one_clock_sim


# The calls that change a plan.
def _changing_calls_on(sim: RunningSimulator, plan_ids: set[str], *, since: int = 0) -> list[str]:
    """The changing calls made about these plans, from the `since`-th call the simulator got on."""
    return [
        call["action"]
        for call in sim.calls()[since:]
        if call["action"] in CHANGING_CALLS and call["params"].get("Id") in plan_ids
    ]


def _row(page: Page, plan_id: str) -> Locator:
    return page.get_by_test_id("held-plans").locator(f'tr[data-held-plan="{plan_id}"]')


def test_a_site_held_on_its_own_then_with_every_site_stays_held_until_the_last_hold_resumes(
    page: Page,
    live_server: LiveServer,
    operator: User,
    esa: EsaClient,
    sim: RunningSimulator,
    clock: ManualClock,
) -> None:
    now = clock.moment()
    made: dict[str, tuple[str, str, str]] = {}  # host: job, its running plan, its waiting plan
    for site_id, host in ((DEMO_SITE_ID, "example.com"), (SHOP.site_id, SHOP.site_name)):
        job = esa.create_scheduled_preload_job(
            site_id=site_id, name=f"Assets of {host}", urls=[f"https://{host}/a{i}.js" for i in range(500)]
        )
        running, waiting = esa.create_scheduled_preload_executions(
            job.id,
            [
                PlanSpec(now, now + timedelta(hours=1), interval=10, slice_len=2),
                PlanSpec(now + timedelta(hours=2), now + timedelta(hours=3), interval=30, slice_len=3),
            ],
        ).succeeded
        made[host] = (job.id, running.id, waiting.id)
    clock.forward(1.1)  # the first batch of each plan starting now fires: they are running
    example_job, example_running, example_waiting = made["example.com"]
    example_plans = {example_running, example_waiting}
    before = plans_in_esa(esa, example_job)
    assert (before[example_running].status, before[example_waiting].status) == ("running", "waiting")
    sync_once(esa)

    # example.com is held on its own, from its page.
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/sites/{DEMO_SITE_ID}/")
    page.get_by_test_id("hold-site").click()
    expect(page.get_by_test_id("hold-confirm")).to_have_text("Hold 2 plans on example.com")
    page.get_by_label("Reason").fill("example.com's origin 5xx")
    page.get_by_test_id("hold-confirm").click()
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    own = Incident.objects.get()
    expect(page.locator("#incident-live")).to_have_attribute("data-status", "held", timeout=WORK_TIMEOUT)
    sync_once(esa)

    # Then every site, from the sites page: the confirmation counts only the other sites' plans,
    # and says the plans already held are left to the hold that has them.
    page.goto(f"{live_server.url}/")
    page.get_by_test_id("hold-everywhere").click()
    expect(page.get_by_test_id("hold-running")).to_contain_text("1 running plan will be stopped")
    expect(page.get_by_test_id("hold-waiting")).to_contain_text("1 waiting plan will be held")
    expect(page.get_by_test_id("hold-held-elsewhere")).to_contain_text(
        "2 plans already held by another open incident"
    )
    expect(page.get_by_test_id("already-held")).to_have_count(0)
    confirm = page.get_by_test_id("hold-confirm")
    expect(confirm).to_have_text("Hold 2 plans everywhere")
    page.get_by_label("Reason").fill("CDN-wide origin trouble")
    calls_before_everywhere = len(sim.calls())
    confirm.click()
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    everywhere = Incident.objects.exclude(pk=own.pk).get()
    assert everywhere.site is None
    expect(page.locator("#incident-live")).to_have_attribute("data-status", "held", timeout=WORK_TIMEOUT)
    expect(page.get_by_test_id("incident-progress")).to_have_text("2 of 2")
    _, shop_running, shop_waiting = made[SHOP.site_name]
    expect(page.get_by_test_id("held-plans").locator("tr[data-held-plan]")).to_have_count(2)
    expect(_row(page, shop_running)).to_contain_text("Stopped")
    expect(_row(page, shop_waiting)).to_contain_text("Held (window moved)")
    assert _changing_calls_on(sim, example_plans, since=calls_before_everywhere) == []
    sync_once(esa)

    # example.com's hold page says it is held already, and offers nothing to confirm.
    page.goto(f"{live_server.url}/incidents/hold/?site={DEMO_SITE_ID}")
    already = page.get_by_test_id("already-held")
    expect(already).to_contain_text(f"example.com is already held by incident #{own.pk}")
    expect(page.get_by_test_id("hold-confirm")).to_have_count(0)
    # Its page names both holds, its own first, and offers no second hold of its own.
    page.goto(f"{live_server.url}/sites/{DEMO_SITE_ID}/")
    held_by = page.get_by_test_id("site-held-by")
    expect(held_by).to_contain_text(f"example.com is held by incident #{own.pk}")
    expect(held_by).to_contain_text(f"and by incident #{everywhere.pk} (every site)")
    expect(held_by.get_by_role("link", name=f"incident #{own.pk}")).to_have_attribute(
        "href", f"/incidents/{own.pk}/"
    )
    expect(page.get_by_test_id("hold-site")).to_have_count(0)

    # Resuming example.com's own hold: its plans stay held by the every-site hold, and nothing is sent.
    page.goto(f"{live_server.url}/incidents/{own.pk}/")
    page.get_by_test_id("incident-resume").click()
    expect(page.get_by_test_id("resume-stays-held")).to_contain_text(
        f"2 stay held by incident #{everywhere.pk} (every site)"
    )
    expect(page.get_by_test_id("resume-start")).to_contain_text("0 stopped by the hold will be started again")
    expect(page.get_by_test_id("resume-restore")).to_contain_text("0 will get their original window back")
    expect(page.get_by_test_id("resume-loads")).to_contain_text("No plan is put back")
    calls_before_resume = len(sim.calls())
    expect(page.get_by_test_id("resume-confirm")).to_have_text("Resume (no plan to put back now)")
    page.get_by_test_id("resume-confirm").click()
    page.wait_for_url(f"{live_server.url}/incidents/{own.pk}/")
    expect(page.locator("#incident-live")).to_have_attribute("data-status", "resumed", timeout=WORK_TIMEOUT)
    expect(page.get_by_test_id("incident-status")).to_have_text("Resumed")
    for plan_id in example_plans:
        stays = _row(page, plan_id)
        expect(stays).to_contain_text(f"Stays held by #{everywhere.pk}")
        expect(stays.get_by_role("link", name=f"#{everywhere.pk}")).to_have_attribute(
            "href", f"/incidents/{everywhere.pk}/"
        )

    # In ESA, example.com's plans are as the hold left them: stopped, and parked a long way off.
    assert _changing_calls_on(sim, example_plans, since=calls_before_resume) == []
    held = plans_in_esa(esa, example_job)
    assert held[example_running].status == "stopped"
    assert held[example_waiting].status == "waiting"
    parked, original = held[example_waiting].start_time, before[example_waiting].start_time
    assert parked is not None and original is not None and parked - original > timedelta(days=300)
    assert [
        call for call in sim.calls("StartScheduledPreloadExecution") if call["params"]["Id"] in example_plans
    ] == []
    sync_once(esa)
    page.goto(f"{live_server.url}/sites/{DEMO_SITE_ID}/")
    expect(page.get_by_test_id("site-held-by")).to_contain_text(f"incident #{everywhere.pk}")
    expect(page.get_by_test_id("hold-site")).to_have_text("Hold this site on its own")

    # The every-site hold now holds example.com's plans too, and its resume puts them back.
    page.goto(f"{live_server.url}/incidents/{everywhere.pk}/")
    for plan_id in example_plans:
        expect(_row(page, plan_id)).to_contain_text(f"passed on by #{own.pk}")
    page.get_by_test_id("incident-resume").click()
    expect(page.get_by_test_id("resume-stays-held")).to_have_count(0)
    expect(page.get_by_test_id("resume-start")).to_contain_text("2 stopped by the hold will be started again")
    expect(page.get_by_test_id("resume-restore")).to_contain_text("2 will get their original window back")
    page.get_by_label("Pace").select_option("as_it_was")
    expect(page.get_by_test_id("resume-confirm")).to_have_text("Resume 4 plans as it was")
    page.get_by_test_id("resume-confirm").click()
    page.wait_for_url(f"{live_server.url}/incidents/{everywhere.pk}/")
    expect(page.locator("#incident-live")).to_have_attribute("data-status", "resumed", timeout=WORK_TIMEOUT)
    expect(page.get_by_test_id("incident-progress")).to_have_text("4 of 4")

    after = plans_in_esa(esa, example_job)
    assert after[example_running].status in ("waiting", "running")
    assert (
        after[example_waiting].status,
        after[example_waiting].start_time,
        after[example_waiting].end_time,
    ) == (
        "waiting",
        before[example_waiting].start_time,
        before[example_waiting].end_time,
    )
    assert [call["params"]["Id"] for call in sim.calls("StartScheduledPreloadExecution")].count(
        example_running
    ) == 1
    sync_once(esa)
    page.goto(f"{live_server.url}/sites/{DEMO_SITE_ID}/")
    expect(page.get_by_test_id("site-held-by")).to_have_count(0)
    expect(page.get_by_test_id("hold-site")).to_have_text("Hold all prefetch on this site")


# -- a ramped resume ----------------------------------------------------------------------------------

# Eight plans of 20 s, 3 URLs every 5 s: one alone sends up to 36 URLs in a minute (the least cap),
# and the eight together, from the moment of the hold, at least 48 in one minute (the default cap).
PLANS = 8
WINDOW = timedelta(seconds=20)
INTERVAL, SLICE_LEN = 5, 3
LEAST_CAP = 36
LOWER_CAP = 40
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d"


def _figure(cell: Locator) -> int:
    """The URLs a minute a loads cell shows in bold."""
    return int(cell.locator("strong").inner_text())


def _ramped_windows(page: Page) -> dict[str, tuple[datetime, datetime]]:
    """Each plan's window under the ramp, as the resume page shows it."""
    windows = {}
    for row in page.get_by_test_id("resume-lines").locator("tr[data-held-plan]").all():
        text = row.get_by_test_id("ramped-window").inner_text()
        start, end = re.fullmatch(rf"ramp: ({TIME}) → ({TIME})", text).groups()  # type: ignore[union-attr]
        windows[row.get_attribute("data-held-plan") or ""] = (
            datetime.strptime(start, "%Y-%m-%d %H:%M:%S %z"),
            datetime.strptime(end, "%Y-%m-%d %H:%M:%S %z"),
        )
    return windows


def test_an_operator_resumes_plans_whose_windows_passed_under_a_ramp_with_a_cap_of_their_own(
    page: Page,
    live_server: LiveServer,
    operator: User,
    esa: EsaClient,
    sim: RunningSimulator,
    clock: ManualClock,
) -> None:
    now = clock.moment()
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Flash sale", urls=[f"https://example.com/f/{i}" for i in range(1000)]
    )
    plans = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(now, now + WINDOW, INTERVAL, SLICE_LEN) for _ in range(PLANS)]
    ).succeeded
    plan_ids = {plan.id for plan in plans}
    clock.forward(1.1)  # every plan has sent its first batch: running
    sync_once(esa)
    # The hold itself is the other tests' subject: asked here as the button does, done by the worker.
    incident, _ = hold_request(user=operator, site=Site.objects.get(esa_id=DEMO_SITE_ID), reason="")
    eventually(
        lambda: Incident.objects.filter(pk=incident.pk, status=IncidentStatus.HELD).exists(),
        timeout=WORK_TIMEOUT / 1000,
        failure="the hold never settled",
    )
    assert {plan.status for plan in plans_in_esa(esa, job.id).values()} == {"stopped"}
    # Every window passes during the hold.
    clock.forward((now + WINDOW - timezone.now()).total_seconds() + 1)

    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/incidents/{incident.pk}/resume/")
    expect(page.get_by_test_id("resume-reschedule")).to_contain_text(
        f"{PLANS} whose window ended during the hold will be rescheduled from now"
    )
    expect(page.get_by_label("Pace")).to_have_value("ramp")
    loads = page.get_by_test_id("resume-loads").locator(f'tr[data-site="{DEMO_SITE_ID}"]')
    before = _figure(loads.get_by_test_id("load-before"))
    as_it_was = _figure(loads.get_by_test_id("load-as-it-was"))
    ramped = _figure(loads.get_by_test_id("load-ramped"))
    for cell in ("load-before", "load-as-it-was", "load-ramped"):
        expect(loads.get_by_test_id(cell)).to_have_text(re.compile(rf"^\d+ at {TIME}$"))
    # The cap offered is the peak before the hold, which the default ramp keeps.
    cap = loads.get_by_test_id("resume-cap")
    expect(cap).to_have_value(str(before))
    expect(loads).to_contain_text(f"default {before} (the peak before the hold); at least {LEAST_CAP}")
    assert before >= ramped and min(before, as_it_was) > LOWER_CAP
    by_default = _ramped_windows(page)
    assert set(by_default) == plan_ids
    assert (
        sim.calls("UpdateScheduledPreloadExecution") == []
        and sim.calls("StartScheduledPreloadExecution") == []
    )

    # A cap typed but not shown yet: the confirmation, which would send the cap shown, waits for it.
    confirm = page.get_by_test_id("resume-confirm")
    expect(page.get_by_test_id("resume-stale")).to_be_hidden()
    cap.fill("1")
    expect(confirm).to_be_disabled()
    expect(page.get_by_test_id("resume-stale")).to_be_visible()
    # A cap below what one plan sends alone: said so, in its row and above, and nothing to confirm.
    page.get_by_test_id("resume-show").click()
    refusal = f"the cap must be at least {LEAST_CAP} URLs a minute"
    expect(loads.get_by_test_id("load-ramped")).to_contain_text(refusal)
    expect(page.get_by_test_id("resume-error")).to_contain_text(f"example.com: {refusal}")
    expect(confirm).to_be_disabled()
    expect(page.get_by_test_id("resume-stale")).to_be_hidden()
    # On a phone the page does not scroll sideways (the Pace choice's long labels are cut to it).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1400, "height": 900})

    # A lower cap the ramp can keep: the figure and the windows follow it.
    loads.get_by_test_id("resume-cap").fill(str(LOWER_CAP))
    page.get_by_test_id("resume-show").click()
    expect(loads.get_by_test_id("resume-cap")).to_have_value(str(LOWER_CAP))
    assert _figure(loads.get_by_test_id("load-ramped")) <= LOWER_CAP < as_it_was
    shown = _ramped_windows(page)
    assert set(shown) == plan_ids and shown != by_default
    assert max(start for start, _ in shown.values()) > max(start for start, _ in by_default.values())
    expect(confirm).to_be_enabled()
    expect(confirm).to_have_text(f"Resume {PLANS} plans with the ramp")
    page.get_by_label("Reason").fill("origin healthy for 10 min")
    confirm.click()
    page.wait_for_url(f"{live_server.url}/incidents/{incident.pk}/")
    expect(page.locator("#incident-live")).to_have_attribute("data-status", "resumed", timeout=WORK_TIMEOUT)
    expect(page.get_by_test_id("incident-progress")).to_have_text(f"{PLANS} of {PLANS}")
    for plan_id in plan_ids:
        expect(_row(page, plan_id)).to_contain_text("Rescheduled from now")

    # What was sent is what the page showed: in the incident's rows and in ESA.
    incident.refresh_from_db()
    assert incident.resume_caps == {str(DEMO_SITE_ID): LOWER_CAP}
    assert {
        held.plan_esa_id: (held.resume_start, held.resume_end)
        for held in HeldPlan.objects.filter(incident=incident)
    } == shown
    in_esa = plans_in_esa(esa, job.id)
    assert {plan_id: (in_esa[plan_id].start_time, in_esa[plan_id].end_time) for plan_id in plan_ids} == shown
    assert {in_esa[plan_id].status for plan_id in plan_ids} <= {"waiting", "running", "finished"}
