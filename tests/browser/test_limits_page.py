"""In a real browser (Debian's Chromium driven by Playwright): the limits of a site, read from the
simulator as ESA, say what today's prefetch quota has used and has left, when the schedule runs it
out and how many URLs ESA will refuse, on the limits pages, the site page and the overview; and the
limits page shows the site paused in ESA once the sync has read it, without a reload."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SimConfig
from prefetch_ui.esa_sim.backend import Quotas
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator, running_simulator
from prefetch_ui.prefetch.models import Site, SiteLimits
from prefetch_ui.prefetch.selectors.site_limits import site_limits
from prefetch_ui.prefetch.services.sync import esa_sync
from prefetch_ui.web.template_tags import local
from tests.accounts import VIEWER, log_in
from tests.one_clock import dashboard_on_the_clock

pytestmark = pytest.mark.django_db(transaction=True)

QUOTA = 35
# How long a check waits for the page's next poll (every 15 s): a bound that only stops a broken
# page from hanging the run, never a measure of speed.
POLL_TIMEOUT = 90_000


def _midday_zone(moment: float) -> str:
    """A zone where `moment` is about noon: the test moves the clock a few minutes, and a quota day
    that ended meanwhile (midnight in the quota's zone) would start the count afresh."""
    offset = 12 - datetime.fromtimestamp(moment, UTC).hour  # -11 ... +12 hours
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


@pytest.fixture
def zone(clock: ManualClock, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> ZoneInfo:
    """ESA's quota day and the dashboard's display zone in one zone where it is midday, and Django on
    the test's clock (the simulator's): a batch goes out, and a page says "now", only when the test
    moves it."""
    dashboard_on_the_clock(clock, monkeypatch)
    name = _midday_zone(clock.now)
    settings.PREFETCH_ESA_QUOTA_TIME_ZONE = name
    settings.PREFETCH_DISPLAY_TIME_ZONE = name
    settings.PREFETCH_SYNC_LIMITS_PERIOD = 60  # the pause is read a minute after it was set
    return ZoneInfo(name)


@pytest.fixture
def quota_sim(tmp_path: Path, clock: ManualClock, zone: ZoneInfo) -> Iterator[RunningSimulator]:
    """The simulator as ESA, on the test's clock, where example.com may prefetch 35 URLs a day."""
    config = SimConfig(
        state_path=tmp_path / "quota.sqlite3",
        quotas=Quotas(preload_per_site={DEMO_SITE_ID: QUOTA}, time_zone=zone.key),
    )
    with running_simulator(config, real_time=clock) as running:
        yield running


@pytest.fixture
def quota_esa(quota_sim: RunningSimulator) -> Iterator[EsaClient]:
    with quota_sim.client() as esa:
        yield esa


def _shown(moment: datetime | None, zone: ZoneInfo) -> str:
    """A time as the pages show it (the `local` filter) in the display zone."""
    with timezone.override(zone):
        return local(moment)


def test_the_limits_page_says_when_the_quota_runs_out_and_that_the_site_is_paused(
    page: Page,
    live_server: LiveServer,
    viewer: User,
    quota_sim: RunningSimulator,
    quota_esa: EsaClient,
    clock: ManualClock,
    zone: ZoneInfo,
    problems: list[str],
) -> None:
    esa_sync(client=quota_esa, now=clock.moment())  # reads the quota, and counting begins
    counting_began = clock.moment()
    job = quota_esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Over quota", urls=[f"https://example.com/q/{n}" for n in range(100)]
    )
    start = clock.moment() + timedelta(seconds=60)
    quota_esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start, start + timedelta(minutes=30), interval=60, slice_len=10)]
    )
    clock.forward(1)
    esa_sync(client=quota_esa, now=clock.moment())  # the job and its plan join the mirror
    clock.forward(120)  # the batches at start and start + 60 s go out: 20 URLs charged
    esa_sync(client=quota_esa, now=clock.moment())
    assert quota_sim.simulator.preload_used(DEMO_SITE_ID) == 20

    # What the forecast computes from the mirror: 15 left; the batch at start + 120 s takes 10, the
    # one at start + 180 s finds 5, and from it the job's last 65 URLs are refused.
    site = Site.objects.get(esa_id=DEMO_SITE_ID)
    limits = site_limits(site=site, now=clock.moment())
    assert limits.quota is not None
    forecast = limits.quota.forecast
    assert (limits.quota.used, limits.quota.left) == (20, 15)
    assert (forecast.runs_out_at, forecast.refused) == (start + timedelta(seconds=180), 65)

    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/sites/{DEMO_SITE_ID}/limits/")
    quota = page.get_by_test_id("limits-quota")
    expect(quota.get_by_test_id("quota-used")).to_have_text("20")
    expect(quota.get_by_test_id("quota-quota")).to_have_text("35")
    expect(quota.get_by_test_id("quota-left")).to_have_text("15")
    bar = quota.locator("progress")
    expect(bar).to_have_attribute("value", "20")
    expect(bar).to_have_attribute("max", "35")
    expect(quota.get_by_test_id("runs-out-at")).to_have_text(_shown(forecast.runs_out_at, zone))
    expect(quota.get_by_test_id("refused")).to_have_text("65")
    expect(quota.get_by_test_id("quota-forecast")).to_contain_text(
        "At this schedule, today's quota runs out at"
    )
    # Counting began at the first read, during the day: the figure is a lower bound, and says so.
    expect(quota.get_by_test_id("quota-incomplete")).to_contain_text(
        f"At least 20 used: counting began at {_shown(counting_began, zone)}."
    )
    expect(page.get_by_test_id("site-paused")).to_have_text("Not paused.")
    expect(page.get_by_test_id("job-cap")).to_contain_text("ESA does not publish the cap")

    # Paused in ESA's console: the next read of the limits (a minute later) finds it, and the page,
    # polling, shows it without a reload.
    page.evaluate("window.__samePage = true")
    quota_sim.simulator.set_site_paused(DEMO_SITE_ID, True)
    clock.forward(60)
    esa_sync(client=quota_esa, now=clock.moment())
    assert SiteLimits.objects.get(site=site).paused is True
    expect(page.get_by_test_id("site-paused")).to_contain_text("Paused in ESA", timeout=POLL_TIMEOUT)
    expect(page.get_by_test_id("site-runs")).to_contain_text("ESA runs none of this site's plans now")
    expect(page.get_by_test_id("quota-forecast")).to_have_text(
        "ESA runs none of this site's plans while it is paused: "
        "nothing more is charged today at this schedule."
    )
    assert page.evaluate("window.__samePage") is True

    # Every site's limits, the site page and the overview say it too.
    page.goto(f"{live_server.url}/limits/")
    row = page.locator(f'tr[data-site="{DEMO_SITE_ID}"]')
    expect(row.get_by_test_id("limits-paused")).to_have_text("paused in ESA")
    expect(row.get_by_test_id("site-runs")).to_have_text("no: paused")
    page.goto(f"{live_server.url}/sites/{DEMO_SITE_ID}/")
    expect(page.get_by_test_id("limits-summary")).to_contain_text(
        "Prefetch quota today: at least 20 of 35 used · site paused in ESA"
    )
    page.get_by_test_id("limits-link").click()
    expect(page.get_by_role("heading", name="Limits of example.com")).to_be_visible()
    page.goto(f"{live_server.url}/overview/")
    card = page.locator(f"[data-site-review='{DEMO_SITE_ID}']")
    expect(card.get_by_test_id("limits-paused")).to_be_visible()
    assert problems == []


def test_the_site_page_says_when_the_quota_runs_out(
    page: Page,
    live_server: LiveServer,
    viewer: User,
    quota_sim: RunningSimulator,
    quota_esa: EsaClient,
    clock: ManualClock,
    zone: ZoneInfo,
    problems: list[str],
) -> None:
    esa_sync(client=quota_esa, now=clock.moment())
    job = quota_esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Over quota", urls=[f"https://example.com/q/{n}" for n in range(100)]
    )
    start = clock.moment() + timedelta(seconds=60)
    quota_esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start, start + timedelta(minutes=30), interval=60, slice_len=10)]
    )
    clock.forward(1)
    esa_sync(client=quota_esa, now=clock.moment())
    # Nothing sent yet: 35 left, the fourth batch (start + 180 s) finds 5, 65 URLs refused.
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/sites/{DEMO_SITE_ID}/")
    runs_out = _shown(start + timedelta(seconds=180), zone)
    expect(page.get_by_test_id("limits-summary")).to_contain_text(
        f"Prefetch quota today: at least 0 of 35 used · runs out at {runs_out}; 65 URLs will be refused"
    )
    page.goto(f"{live_server.url}/limits/")
    row = page.locator(f'tr[data-site="{DEMO_SITE_ID}"]')
    expect(row.get_by_test_id("quota-runs-out")).to_have_text("prefetch quota runs out today")
    expect(row.get_by_test_id("runs-out-at")).to_have_text(runs_out)
    assert problems == []
