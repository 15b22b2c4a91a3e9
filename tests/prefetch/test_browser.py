"""In a real browser (Debian's Chromium driven by Playwright): the job page lives and obeys."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.models import Job, Operation, Plan, Site
from prefetch_ui.prefetch.tasks import esa_sync_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium reaches for Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXAMPLE = 190007158391808


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # around it are ordinary blocking calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def syncing() -> Iterator[None]:
    """Beat's job, at test pace: ask the worker for a sync every half second."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.5):
            esa_sync_task.delay()

    esa_sync_task.delay()
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def _log_in(browser: Browser, live_server: LiveServer, username: str, password: str) -> Page:
    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    expect(page.get_by_role("heading", name="Sites")).to_be_visible()
    return page


@pytest.fixture
def running_job(esa: EsaClient) -> tuple[str, str]:
    job = esa.create_scheduled_preload_job(
        site_id=EXAMPLE, name="Spring sale", urls=[f"https://example.com/p/{index}" for index in range(400)]
    )
    start = datetime.now(UTC).replace(microsecond=0)
    (plan,) = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start, start + timedelta(hours=1), interval=1, slice_len=2)]
    ).succeeded
    return job.id, plan.id


def _submitted(page: Page) -> int:
    match = re.match(r"(\d+) /", page.get_by_test_id("job-progress").inner_text())
    assert match is not None
    return int(match.group(1))


def test_an_operator_watches_progress_and_stops_a_running_plan(
    browser: Browser,
    live_server: LiveServer,
    operator: User,
    running_job: tuple[str, str],
    sim: RunningSimulator,
    syncing: None,
    tmp_path: Path,
) -> None:
    _, plan_id = running_job
    page = _log_in(browser, live_server, "olga", "operator-pass-123")
    page.get_by_role("link", name="example.com").click()
    page.get_by_role("link", name="Spring sale").click()
    row = page.locator(f'tr[data-plan="{plan_id}"]')
    expect(row.get_by_test_id("plan-status")).to_have_text("running", timeout=15_000)

    # Progress grows by itself: no reload (a marker set on this document survives).
    page.evaluate("window.__samePage = true")
    before = _submitted(page)
    page.wait_for_function(
        f"() => parseInt(document.querySelector('[data-testid=job-progress]').innerText) > {before}",
        timeout=15_000,
    )
    assert page.evaluate("window.__samePage") is True

    row.get_by_role("button", name="Stop").click()
    expect(row.get_by_test_id("plan-status")).to_have_text("stopped", timeout=15_000)
    assert page.evaluate("window.__samePage") is True
    assert [call["params"]["Id"] for call in sim.calls("StopScheduledPreloadExecution")] == [plan_id]
    page.screenshot(path=str(tmp_path / "job-page.png"), full_page=True)


def test_a_read_only_user_sees_no_buttons(
    browser: Browser, live_server: LiveServer, viewer: User, running_job: tuple[str, str], syncing: None
) -> None:
    job_id, plan_id = running_job
    page = _log_in(browser, live_server, "vic", "viewer-pass-123")
    page.goto(f"{live_server.url}/jobs/{job_id}/")
    expect(page.locator(f'tr[data-plan="{plan_id}"]').get_by_test_id("plan-status")).to_have_text(
        re.compile("running|waiting"), timeout=15_000
    )
    expect(page.locator("main button")).to_have_count(0)
    expect(page.get_by_text("Stop all plans")).to_have_count(0)


def test_an_operator_builds_three_plans_in_a_chosen_zone(
    browser: Browser,
    live_server: LiveServer,
    operator: User,
    esa: EsaClient,
    sim: RunningSimulator,
    tmp_path: Path,
) -> None:
    job = esa.create_scheduled_preload_job(
        site_id=EXAMPLE,
        name="Summer launch",
        # More than the two typed rows submit (610 + 1,820), so the generator has some left to plan.
        urls=[f"https://example.com/s/{index}" for index in range(5_000)],
    )
    esa_sync_task.delay()
    page = _log_in(browser, live_server, "olga", "operator-pass-123")
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
    expect(plans).to_have_count(3, timeout=15_000)
    for index in range(3):
        expect(plans.nth(index).get_by_test_id("plan-status")).to_have_text("waiting", timeout=15_000)
    # The builder's zone was for the builder only: the job page keeps the operator's own zone, and
    # shows the same instants there (09:00 in London, UTC+1, is 16:00 in Shanghai, UTC+8).
    expect(page.locator("p.hint")).to_contain_text("Times in Asia/Shanghai")
    expect(plans.nth(0)).to_contain_text("2031-06-01 16:00:00 +08:00 → 2031-06-01 17:00:00 +08:00")
    expect(plans.nth(1)).to_contain_text("2031-06-02 16:00:00 +08:00 → 2031-06-02 17:30:00 +08:00")
    expect(plans.nth(2)).to_contain_text("2031-06-03 16:00:00 +08:00 → 2031-06-03 19:00:00 +08:00")
    page.screenshot(path=str(tmp_path / "job-with-plans.png"), full_page=True)
    (call,) = sim.calls("CreateScheduledPreloadExecutions")
    assert '"StartTime":"2031-06-01T08:00:00Z"' in call["params"]["Executions"]  # BST is UTC+1


@pytest.fixture
def long_job() -> tuple[str, list[str]]:
    """A job of 60 waiting plans on example.com, straight in the mirror (no ESA needed to look)."""
    now = datetime.now(UTC)
    site = Site.objects.create(esa_id=EXAMPLE, name="example.com", synced_at=now)
    job = Job.objects.create(
        esa_id="6650aaaaaaaaaaaaaaaaaaaa", site=site, name="Long catalogue", url_count=6000, synced_at=now
    )
    plans = Plan.objects.bulk_create(
        Plan(
            esa_id=f"6650bbbbbbbbbbbbbbbbbb{index:02d}",
            job=job,
            start_time=now + timedelta(days=30, hours=index),
            end_time=now + timedelta(days=30, hours=index, minutes=50),
            interval=60,
            slice_len=10,
            status="waiting",
            synced_at=now,
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
    browser: Browser, live_server: LiveServer, operator: User, long_job: tuple[str, list[str]], tmp_path: Path
) -> None:
    job_id, plan_ids = long_job
    page = _log_in(browser, live_server, "olga", "operator-pass-123")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", f"/sites/{EXAMPLE}/", f"/jobs/{job_id}/", f"/jobs/{job_id}/plans/new/"):
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


def test_stop_all_asks_with_a_count_before_anything_is_sent(
    browser: Browser, live_server: LiveServer, operator: User, long_job: tuple[str, list[str]]
) -> None:
    page = _log_in(browser, live_server, "olga", "operator-pass-123")
    page.goto(f"{live_server.url}/sites/{EXAMPLE}/")
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    stop_all = page.get_by_role("button", name="Stop all plans on this site")
    stop_all.click()
    expect(page.get_by_test_id("new-job")).to_be_visible()
    assert asked == [
        "Stop 60 waiting or running plans on example.com? Each gets a stop operation of its own; "
        "finished, failed and stopped plans are not touched."
    ]
    assert not Operation.objects.exists()  # dismissed: nothing was sent
    stop_all.click()
    expect(page.get_by_text("Stopping 60 waiting or running plan(s) on example.com.")).to_be_visible()
    assert Operation.objects.filter(kind="plan_stop").count() == 60
