"""In a real browser (Debian's Chromium driven by Playwright): the job page lives and obeys."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.models import Job
from prefetch_ui.prefetch.tasks import esa_sync_task
from tests.accounts import OPERATOR, VIEWER, log_in
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def syncing(running_job: tuple[str, str]) -> Iterator[None]:
    """Beat's job, at test pace: ask the worker for a sync every half second."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.5):
            esa_sync_task.delay()

    esa_sync_task.delay()
    # Every test here starts from a job in ESA: its pages exist once the first sync has mirrored it.
    eventually(lambda: Job.objects.exists())
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.fixture
def running_job(esa: EsaClient) -> tuple[str, str]:
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID,
        name="Spring sale",
        urls=[f"https://example.com/p/{index}" for index in range(400)],
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
    page: Page,
    live_server: LiveServer,
    operator: User,
    running_job: tuple[str, str],
    sim: RunningSimulator,
    syncing: None,
    tmp_path: Path,
) -> None:
    _, plan_id = running_job
    log_in(page, live_server.url, OPERATOR)
    page.get_by_role("link", name="example.com").click()
    page.get_by_role("link", name="Spring sale").click()
    row = page.locator(f'tr[data-plan="{plan_id}"]')
    expect(row.get_by_test_id("plan-status")).to_have_text("running", timeout=60_000)

    # Progress grows by itself: no reload (a marker set on this document survives).
    page.evaluate("window.__samePage = true")
    before = _submitted(page)
    page.wait_for_function(
        f"() => parseInt(document.querySelector('[data-testid=job-progress]').innerText) > {before}",
        timeout=60_000,
    )
    assert page.evaluate("window.__samePage") is True

    row.get_by_role("button", name="Stop").click()
    expect(row.get_by_test_id("plan-status")).to_have_text("stopped", timeout=60_000)
    assert page.evaluate("window.__samePage") is True
    assert [call["params"]["Id"] for call in sim.calls("StopScheduledPreloadExecution")] == [plan_id]
    page.screenshot(path=str(tmp_path / "job-page.png"), full_page=True)


def test_a_read_only_user_sees_no_buttons(
    page: Page, live_server: LiveServer, viewer: User, running_job: tuple[str, str], syncing: None
) -> None:
    job_id, plan_id = running_job
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/jobs/{job_id}/")
    expect(page.locator(f'tr[data-plan="{plan_id}"]').get_by_test_id("plan-status")).to_have_text(
        re.compile("running|waiting"), timeout=60_000
    )
    expect(page.locator("main button")).to_have_count(0)
    expect(page.get_by_text("Hold all prefetch")).to_have_count(0)
