"""The demo estate `make run` puts into a fresh simulator."""

from __future__ import annotations

import pytest

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.demo import seed_demo
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator


def _plan_statuses(client: EsaClient) -> dict[str, list[str]]:
    return {
        job.name: sorted(plan.status for plan in client.list_scheduled_preload_executions(job.id).items)
        for site in client.iter_sites()
        for job in client.iter_scheduled_preload_jobs(site_id=site.site_id)
    }


@pytest.fixture
def demo_a_minute_later(clock: ManualClock, clocked_esa_client: EsaClient) -> EsaClient:
    """A fresh simulator seeded with the demo, a simulated minute later."""
    seed_demo(clocked_esa_client)
    clock.forward(60)
    return clocked_esa_client


def test_demo_shows_every_plan_status_a_minute_after_seeding(demo_a_minute_later: EsaClient) -> None:
    assert _plan_statuses(demo_a_minute_later) == {
        "Homepage assets": ["running", "waiting"],
        "Product images": ["stopped"],
        "Launch page": ["finished"],
        "Legacy CDN": ["failed"],
        "Spring sale pages": ["running", "waiting"],
        # beta.example.io is `pending`: past its start, the plan still waits.
        "Beta launch warm-up": ["waiting"],
    }


def test_demo_jobs_have_realistic_urls_and_progress(demo_a_minute_later: EsaClient) -> None:
    jobs = {job.name: job for job in demo_a_minute_later.iter_scheduled_preload_jobs(site_id=DEMO_SITE_ID)}
    assert (jobs["Homepage assets"].url_count, jobs["Homepage assets"].error_info) == (600, "")
    # Seven batches of 5 (at +0 s … +60 s) out of 600.
    assert jobs["Homepage assets"].url_submitted == 35
    assert jobs["Launch page"].url_submitted == jobs["Launch page"].url_count == 20
    assert jobs["Legacy CDN"].task_submitted == 0
    assert jobs["Legacy CDN"].error_info == "invalid domain:cdn.example-legacy.net"
    # Stopped after its first batch, and it stays there.
    assert jobs["Product images"].url_submitted == 20


def test_seeding_again_creates_nothing(sim: RunningSimulator, esa_client: EsaClient) -> None:
    seed_demo(esa_client)
    jobs_before = len(sim.calls("CreateScheduledPreloadJob"))
    plans_before = len(sim.calls("CreateScheduledPreloadExecutions"))

    seed_demo(esa_client)

    assert len(sim.calls("CreateScheduledPreloadJob")) == jobs_before == 6
    assert len(sim.calls("CreateScheduledPreloadExecutions")) == plans_before
