"""The simulator's record of submitted URLs: every batch a plan fired, at its scheduled time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES, SimConfig, submitted_batches
from prefetch_ui.esa_sim.engine import JobProgress, PlanProgress, advance
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator, running_simulator

URLS = [f"https://example.com/asset/{index}.js" for index in range(100)]


def test_advance_returns_the_batches_it_fired_at_their_scheduled_times() -> None:
    job = JobProgress(url_count=12, valid_flags="1" * 12)
    plan = PlanProgress(
        id="p",
        seq=1,
        start_time=100,
        end_time=1000,
        interval=10,
        slice_len=5,
        state="active",
        next_batch_at=100,
    )
    fired = advance(job, [plan], 500)  # one late catch-up: batches at 100, 110, 120 (the last takes 2)
    assert [(batch.plan_id, batch.at, batch.urls) for batch in fired] == [
        ("p", 100, 5),
        ("p", 110, 5),
        ("p", 120, 2),
    ]
    assert advance(job, [plan], 600) == []


def test_a_lazy_catch_up_records_each_batch_at_its_scheduled_time(
    clock: ManualClock, clocked_sim: RunningSimulator, clocked_esa_client: EsaClient
) -> None:
    job = clocked_esa_client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=URLS)
    start = float(int(clock.now) + 10)  # ESA's times are whole seconds
    (plan,) = clocked_esa_client.create_scheduled_preload_executions(
        job.id,
        [PlanSpec(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(start + 3600, UTC), 60, 10)],
    ).succeeded
    clock.forward(10 + 185)  # due at +0, +60, +120, +180 of the window; nothing has read the job yet
    assert clocked_sim.submitted_batches() == []
    clocked_esa_client.list_scheduled_preload_executions(job.id)
    batches = clocked_sim.submitted_batches()
    assert [(batch.at - start, batch.urls) for batch in batches] == [(0, 10), (60, 10), (120, 10), (180, 10)]
    assert {(batch.plan_id, batch.job_id, batch.site_id) for batch in batches} == {
        (plan.id, job.id, DEMO_SITE_ID)
    }
    assert [
        batch.at - start for batch in clocked_sim.submitted_batches(since=start + 60, until=start + 180)
    ] == [
        60,
        120,
    ]


def test_a_stopped_plan_records_nothing_and_the_records_agree_with_the_cursor(
    clock: ManualClock, clocked_sim: RunningSimulator, clocked_esa_client: EsaClient
) -> None:
    job = clocked_esa_client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=URLS)
    now = datetime.fromtimestamp(int(clock.now), UTC)
    _running, stopped = clocked_esa_client.create_scheduled_preload_executions(
        job.id,
        [PlanSpec(now, now + timedelta(hours=1), 60, 7), PlanSpec(now, now + timedelta(hours=1), 30, 3)],
    ).succeeded
    created_at = clock.now  # a window already open: the first batches go out at once
    clock.forward(1)
    clocked_esa_client.stop_scheduled_preload_execution(stopped.id)  # after its first batch, at +0
    stopped_at = clock.now
    clock.forward(600)
    submitted = clocked_esa_client.get_scheduled_preload_job(job.id).url_submitted
    batches = clocked_sim.submitted_batches()
    assert [batch.at for batch in batches if batch.plan_id == stopped.id] == [created_at]
    assert not [
        batch for batch in clocked_sim.submitted_batches(since=stopped_at) if batch.plan_id == stopped.id
    ]
    assert sum(batch.urls for batch in batches) == submitted == 3 + 7 * 11  # +0, +60 ... +600


def test_batches_are_readable_from_the_state_file_by_another_reader(
    tmp_path: Path, clock: ManualClock
) -> None:
    state = tmp_path / "sim.sqlite3"
    site_id = SEED_SITES[1].site_id
    urls = [f"https://{SEED_SITES[1].site_name}/{index}" for index in range(10)]
    with running_simulator(SimConfig(state_path=state), real_time=clock) as sim, sim.client() as client:
        job = client.create_scheduled_preload_job(site_id=site_id, name="j", urls=urls)
        now = datetime.fromtimestamp(int(clock.now), UTC)
        client.create_scheduled_preload_executions(job.id, [PlanSpec(now, now + timedelta(hours=1), 60, 4)])
        clock.forward(300)
        client.get_scheduled_preload_job(job.id)
        batches = submitted_batches(state)
        assert [(batch.site_id, batch.urls) for batch in batches] == [
            (site_id, 4),
            (site_id, 4),
            (site_id, 2),
        ]
        assert submitted_batches(state, since=now.timestamp() + 1) == batches[1:]
