"""In a real browser (Debian's Chromium driven by Playwright): a job page of 150 plans and a site
page of 60 jobs poll for what changed. Nothing changed: the page is left alone and the answers
carry nothing. A plan or a job changed: its row is replaced in place, the others stay the very
same elements. A hidden tab does not poll."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Page, Response, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import Job as EsaJob
from prefetch_ui.prefetch.models import Job, Plan, PlanStatus, Site
from prefetch_ui.prefetch.services.mirror_writes import jobs_upsert
from tests.accounts import VIEWER, log_in
from tests.esa_changes import esa_says, job_of_plans
from tests.factories import JobFactory, PlanFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Marks every plan row of the page as it is now: a row swapped in later is a new element, unmarked.
MARK_ROWS = "document.querySelectorAll('tr[data-plan]').forEach(row => { row.dataset.kept = 'yes'; })"
KEPT_ROWS = "Array.from(document.querySelectorAll('tr[data-plan][data-kept]')).map(row => row.dataset.plan)"
# ... and every job row of a site page.
MARK_JOB_ROWS = "document.querySelectorAll('tr[data-job]').forEach(row => { row.dataset.kept = 'yes'; })"
KEPT_JOB_ROWS = "Array.from(document.querySelectorAll('tr[data-job][data-kept]')).map(row => row.dataset.job)"

# How long a test waits for a poll to bring a change (the job page polls every 2 s, the site page every
# 5 s): a bound that only stops a broken page from hanging the run, never a measure of speed.
SWAP_TIMEOUT = 60_000
# The job page polls every 2 s (PREFETCH_POLL_MIN_SECONDS and the page's own figure).
POLL_MS = 2_000
# Counts, in the page, every poll request as it leaves (htmx sends them with XMLHttpRequest): read
# right after the page's clock moved, it is exact, with no wait for the network.
_COUNT_POLLS_SENT = """
window.__pollsSent = 0;
const open = XMLHttpRequest.prototype.open;
XMLHttpRequest.prototype.open = function (method, url) {
    this.__isPoll = String(url).includes("poll=1");
    return open.apply(this, arguments);
};
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function () {
    if (this.__isPoll) window.__pollsSent += 1;
    return send.apply(this, arguments);
};
"""


def _is_poll(response: Response) -> bool:
    return "poll=1" in response.url


def _polls_sent(page: Page) -> int:
    return int(page.evaluate("window.__pollsSent"))


def _open_on_a_paused_clock(page: Page, url: str) -> None:
    """Open `url` with the page's timers on a clock that moves only with `page.clock.run_for`:
    htmx's `every 2s` fires when the test says, however busy the machine is."""
    page.add_init_script(_COUNT_POLLS_SENT)
    page.clock.install(time=_PAGE_EPOCH)
    page.clock.pause_at(_PAGE_EPOCH + 1)
    page.goto(url)
    assert _polls_sent(page) == 0


# Where the page's clock starts (it needs no relation to the server's time: polls carry versions).
_PAGE_EPOCH = 1_800_000_000


@pytest.fixture
def job() -> Job:
    """A running job of 150 plans on example.com (two pages), straight in the mirror."""
    return job_of_plans(150, name="Big catalogue", url_count=15_000, url_submitted=100)


class _Polls:
    """The poll answers a page receives, and the errors its console shows."""

    def __init__(self, page: Page) -> None:
        self.answers: list[tuple[int, int]] = []
        self.errors: list[str] = []
        page.on("response", self._response)
        page.on("console", self._console)

    def _response(self, response: Response) -> None:
        if "poll=1" in response.url:
            self.answers.append((response.status, len(response.body())))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


def test_a_poll_that_finds_nothing_changed_leaves_the_page_alone(
    page: Page, live_server: LiveServer, viewer: User, job: Job
) -> None:
    log_in(page, live_server.url, VIEWER)
    polls = _Polls(page)
    _open_on_a_paused_clock(page, f"{live_server.url}/jobs/{job.esa_id}/")
    page.evaluate(MARK_ROWS)
    for _ in range(2):  # two ticks of its timer (every 2 s), two polls
        with page.expect_response(_is_poll):
            page.clock.run_for(POLL_MS)
    assert len(polls.answers) >= 2
    assert set(polls.answers) == {(204, 0)}
    assert len(page.evaluate(KEPT_ROWS)) == 100
    assert polls.errors == []


def test_a_changed_plan_is_replaced_in_place_and_the_other_rows_stay(
    page: Page, live_server: LiveServer, viewer: User, job: Job
) -> None:
    log_in(page, live_server.url, VIEWER)
    polls = _Polls(page)
    page.goto(f"{live_server.url}/jobs/{job.esa_id}/")
    page.evaluate(MARK_ROWS)
    plans = list(Plan.objects.filter(job=job).order_by("start_time", "id"))
    with transaction.atomic():  # one change for the page's polls to find, however slow this thread is
        esa_says(plans[7], status=PlanStatus.STOPPED)
        esa_says(plans[130], status=PlanStatus.STOPPED)  # on page 2: nothing to swap here

    row = page.locator(f'tr[data-plan="{plans[7].esa_id}"]')
    expect(row.get_by_test_id("plan-status")).to_have_text("stopped", timeout=SWAP_TIMEOUT)
    kept = page.evaluate(KEPT_ROWS)
    assert plans[7].esa_id not in kept and len(kept) == 99  # only its row was swapped
    expect(page.get_by_test_id("plan-filter")).to_contain_text("2 stopped")
    assert max(size for status, size in polls.answers if status == 200) < 10_000  # a row, not the table
    with page.expect_response(_is_poll, timeout=SWAP_TIMEOUT):
        pass  # the next poll asks from the new version: nothing more
    assert polls.answers[-1] == (204, 0)
    assert polls.errors == []

    # Page 2 polls for its own rows.
    page.get_by_role("link", name="Later").click()
    expect(page.locator("tr[data-plan]")).to_have_count(50)
    page.evaluate(MARK_ROWS)
    esa_says(plans[140], interval=300)
    moved = page.locator(f'tr[data-plan="{plans[140].esa_id}"]')
    expect(moved).to_contain_text("300 s", timeout=SWAP_TIMEOUT)
    assert len(page.evaluate(KEPT_ROWS)) == 49
    assert polls.errors == []


# The page's visibility as a browser reports it for a tab in the background, or brought back.
_VISIBILITY = """state => {
    Object.defineProperty(document, "visibilityState", {configurable: true, get: () => state});
    Object.defineProperty(document, "hidden", {configurable: true, get: () => state === "hidden"});
    document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_hidden_tab_does_not_poll_and_asks_at_once_when_shown(
    page: Page, live_server: LiveServer, viewer: User, job: Job
) -> None:
    """Counted, not timed: the page's clock stands still between the steps, so a poll that leaves
    while it stands still left at once, and no tick of the timer can pass for one."""
    log_in(page, live_server.url, VIEWER)
    _open_on_a_paused_clock(page, f"{live_server.url}/jobs/{job.esa_id}/")
    with page.expect_response(_is_poll):
        page.clock.run_for(POLL_MS)
    assert _polls_sent(page) == 1, "a shown tab polls"

    page.evaluate(_VISIBILITY, "hidden")
    page.clock.run_for(5 * POLL_MS)  # five ticks of its timer
    assert _polls_sent(page) == 1

    with page.expect_response(_is_poll):
        page.evaluate(_VISIBILITY, "visible")
        # Asked as the tab came back, the clock standing still: at once, not at the next tick.
        assert _polls_sent(page) == 2
    with page.expect_response(_is_poll):
        page.clock.run_for(POLL_MS)
    assert _polls_sent(page) == 3  # and on its timer again


def test_a_job_whose_progress_moved_is_replaced_in_place_on_the_site_page(
    page: Page, live_server: LiveServer, viewer: User, site: Site
) -> None:
    now = timezone.now()
    jobs = [
        JobFactory.create(
            site=site,
            name=f"Batch {index}",
            url_count=100,
            url_submitted=10,
            esa_created_at=now - timedelta(minutes=index),
        )
        for index in range(60)
    ]
    Plan.objects.bulk_create(PlanFactory.build(job=job, status=PlanStatus.RUNNING) for job in jobs)
    log_in(page, live_server.url, VIEWER)
    polls = _Polls(page)
    page.goto(f"{live_server.url}/sites/{site.esa_id}/")
    page.evaluate(MARK_JOB_ROWS)
    moved = jobs[4]
    esa_job = EsaJob(
        id=moved.esa_id,
        site_id=site.esa_id,
        name=moved.name,
        url_count=100,
        url_submitted=60,
        created_at=moved.esa_created_at,
    )
    jobs_upsert(site=site, jobs=[esa_job], now=timezone.now())
    expect(page.locator(f'tr[data-job="{moved.esa_id}"]')).to_contain_text("60 / 100", timeout=SWAP_TIMEOUT)
    kept = page.evaluate(KEPT_JOB_ROWS)
    assert moved.esa_id not in kept and len(kept) == 49
    assert polls.errors == []
