"""Our client against the simulator over real HTTP, through a job's whole life."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from prefetch_ui.esa import EsaApiError, EsaClient, EsaNotFoundError, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES, SimConfig
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator, running_simulator, simulator_process
from tests.polling import eventually

URLS = [f"https://example.com/asset/{index}.js" for index in range(38)] + [
    "https://cdn.example.com/logo.png",
    "https://other.org/not-ours.css",
]


def _plan_status(client: EsaClient, job_id: str, plan_id: str) -> str:
    return {plan.id: plan.status for plan in client.list_scheduled_preload_executions(job_id).items}[plan_id]


def test_full_life_cycle_at_high_speed(fast_sim: RunningSimulator) -> None:
    with fast_sim.client() as client:
        job = client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="Spring sale", urls=URLS)
        assert (job.url_count, job.url_submitted, job.insert_way) == (40, 0, "textBox")
        assert "invalid domain:other.org" in job.error_info
        assert set(job.domains.split(",")) == {"example.com", "cdn.example.com"}

        now = datetime.now(UTC).replace(microsecond=0)
        later = now + timedelta(days=30)
        result = client.create_scheduled_preload_executions(
            job.id,
            [
                PlanSpec(later, later + timedelta(hours=2), 60, 10),  # parked in the future
                PlanSpec(now, now - timedelta(hours=1), 60, 10),  # bad: ends before it starts
                PlanSpec(now, now + timedelta(days=1), 60, 5),  # runs now
            ],
        )
        assert (result.total_count, result.success_count) == (3, 2)
        assert len(result.failed) == 1 and "end time is before start time" in result.failed_messages[0]
        parked, runner = result.succeeded
        assert parked.status == "waiting"

        jobs = client.list_scheduled_preload_jobs(site_id=DEMO_SITE_ID)
        assert [(found.id, found.execution_count) for found in jobs.items] == [(job.id, 2)]
        assert jobs.total_count == 1

        # ESA stops only running plans, and starts only stopped ones.
        with pytest.raises(EsaApiError, match=r"OperationDenied\.ExecutionNotRunning.*waiting"):
            client.stop_scheduled_preload_execution(parked.id)
        with pytest.raises(EsaApiError, match=r"OperationDenied\.ExecutionNotStopped.*waiting"):
            client.start_scheduled_preload_execution(parked.id)
        moved = PlanSpec(later + timedelta(days=1), later + timedelta(days=2), 120, 20)
        updated = client.update_scheduled_preload_execution(parked.id, moved)
        assert (updated.start_time, updated.end_time, updated.interval, updated.slice_len) == (
            moved.start_time,
            moved.end_time,
            120,
            20,
        )

        eventually(
            lambda: _plan_status(client, job.id, runner.id) == "finished",
            interval=0.05,
            failure=f"plan {runner.id} never became finished",
        )
        done = client.get_scheduled_preload_job(job.id)
        assert (done.url_submitted, done.task_submitted) == (40, 39)

        reset = client.reset_scheduled_preload_job(job.id)
        assert (reset.url_submitted, reset.task_submitted) == (0, 0)

        client.delete_scheduled_preload_execution(parked.id)
        assert [plan.id for plan in client.list_scheduled_preload_executions(job.id).items] == [runner.id]
        client.delete_scheduled_preload_job(job.id)
        with pytest.raises(EsaNotFoundError):
            client.get_scheduled_preload_job(job.id)
        with pytest.raises(EsaNotFoundError):
            client.list_scheduled_preload_executions(job.id)


def test_stop_keeps_progress_and_start_resumes(clock: ManualClock, clocked_esa_client: EsaClient) -> None:
    job = clocked_esa_client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=URLS)
    start = clock.moment()
    (plan,) = clocked_esa_client.create_scheduled_preload_executions(
        job.id, [PlanSpec(start, start + timedelta(hours=1), 60, 10)]
    ).succeeded
    clock.forward(125)  # batches at +0, +60, +120
    assert clocked_esa_client.get_scheduled_preload_job(job.id).url_submitted == 30
    assert clocked_esa_client.stop_scheduled_preload_execution(plan.id).status == "stopped"
    clock.forward(300)
    assert clocked_esa_client.get_scheduled_preload_job(job.id).url_submitted == 30
    assert clocked_esa_client.start_scheduled_preload_execution(plan.id).status == "waiting"
    clock.forward(1)
    assert clocked_esa_client.get_scheduled_preload_job(job.id).url_submitted == 40
    (running,) = clocked_esa_client.list_scheduled_preload_executions(job.id).items
    assert running.status == "finished"  # all 40 URLs are out


def test_plans_of_one_job_continue_where_the_previous_left_off(
    clock: ManualClock, clocked_esa_client: EsaClient
) -> None:
    job = clocked_esa_client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=URLS)
    t0 = clock.moment()
    first, second = clocked_esa_client.create_scheduled_preload_executions(
        job.id,
        [
            PlanSpec(t0, t0 + timedelta(seconds=90), 60, 10),  # two batches: 20 URLs
            PlanSpec(t0 + timedelta(minutes=5), t0 + timedelta(hours=1), 60, 15),
        ],
    ).succeeded
    clock.forward(200)
    statuses = {
        plan.id: plan.status for plan in clocked_esa_client.list_scheduled_preload_executions(job.id).items
    }
    assert statuses == {first.id: "finished", second.id: "waiting"}
    assert clocked_esa_client.get_scheduled_preload_job(job.id).url_submitted == 20
    clock.forward(100)  # the second plan's first batch, at +300
    assert clocked_esa_client.get_scheduled_preload_job(job.id).url_submitted == 35


def test_state_survives_a_restart_and_catches_up(tmp_path: Path, clock: ManualClock) -> None:
    config = SimConfig(state_path=tmp_path / "s.sqlite3")
    with running_simulator(config, real_time=clock) as sim, sim.client() as client:
        job = client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="persistent", urls=URLS)
        start = clock.moment()
        client.create_scheduled_preload_executions(
            job.id, [PlanSpec(start, start + timedelta(hours=1), 60, 5)]
        )
    clock.forward(185)  # down for three minutes: batches at +0, +60, +120, +180 are due
    with running_simulator(config, real_time=clock) as sim, sim.client() as client:
        restored = client.get_scheduled_preload_job(job.id)
        assert (restored.name, restored.url_submitted) == ("persistent", 20)


def test_the_server_runs_as_its_own_process_with_keys_from_the_environment(tmp_path: Path) -> None:
    env = {"ESA_ACCESS_KEY_ID": "LTAIprocessKey", "ESA_ACCESS_KEY_SECRET": "process-secret"}
    with simulator_process(tmp_path / "p.sqlite3", "--speed", "10", env=env) as url:
        with EsaClient(
            endpoint=url, access_key_id="LTAIprocessKey", access_key_secret="process-secret"
        ) as client:
            assert len(client.list_sites().items) == len(SEED_SITES)
            job = client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="p", urls=URLS)
        assert "process-secret" not in httpx.get(f"{url}/_sim/calls").text
    with (
        simulator_process(tmp_path / "p.sqlite3", env=env) as url,
        EsaClient(endpoint=url, access_key_id="LTAIprocessKey", access_key_secret="process-secret") as client,
    ):
        assert client.get_scheduled_preload_job(job.id).name == "p"


def test_job_limits_and_domains(tmp_path: Path) -> None:
    config = SimConfig(state_path=tmp_path / "s.sqlite3")
    from dataclasses import replace

    from prefetch_ui.esa import EsaInvalidParameterError
    from prefetch_ui.esa_sim import Limits

    limited = replace(config, limits=Limits(max_jobs_per_site=2))
    with running_simulator(limited) as sim, sim.client() as client:
        for name in ("a", "b"):
            client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name=name, urls=URLS)
        with pytest.raises(EsaInvalidParameterError) as caught:
            client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="c", urls=URLS)
        assert caught.value.code == "InvalidJob.JobCountOfSiteFull"
        # Another site is not affected, and its own domain rules apply.
        other = client.create_scheduled_preload_job(
            site_id=SEED_SITES[1].site_id,
            name="shop",
            urls=["https://shop.example.net/x", "https://example.com/y"],
        )
        assert other.error_info == "invalid domain:example.com"
        assert len(client.list_scheduled_preload_jobs(site_id=DEMO_SITE_ID).items) == 2


def test_stop_refuses_every_plan_that_is_not_running(
    clock: ManualClock, clocked_esa_client: EsaClient
) -> None:
    esa = clocked_esa_client
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=URLS[:10])
    now = clock.moment()
    waiting, finishing = esa.create_scheduled_preload_executions(
        job.id,
        [PlanSpec(now + timedelta(hours=1), now + timedelta(hours=2), 60, 10), PlanSpec(now, now, 60, 10)],
    ).succeeded
    clock.forward(1)
    statuses = {plan.id: plan.status for plan in esa.list_scheduled_preload_executions(job.id).items}
    assert statuses == {waiting.id: "waiting", finishing.id: "finished"}
    for plan_id, status in statuses.items():
        with pytest.raises(EsaApiError) as refused:
            esa.stop_scheduled_preload_execution(plan_id)
        assert (refused.value.status, refused.value.code) == (400, "OperationDenied.ExecutionNotRunning")
        assert f"The execution plan is {status}" in refused.value.message
    # Nothing changed: the waiting plan still fires when its start comes.
    assert {plan.id: plan.status for plan in esa.list_scheduled_preload_executions(job.id).items} == statuses


def test_plans_of_a_site_that_is_not_active_never_leave_waiting(
    clock: ManualClock, clocked_sim: RunningSimulator, clocked_esa_client: EsaClient
) -> None:
    esa = clocked_esa_client
    pending = next(site for site in SEED_SITES if site.status != "active")
    assert {site.site_id: site.status for site in esa.list_sites().items}[pending.site_id] == "pending"
    urls = [f"https://{pending.site_name}/{n}.js" for n in range(100)]
    job = esa.create_scheduled_preload_job(site_id=pending.site_id, name="beta", urls=urls)
    now = clock.moment()
    (plan,) = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(now, now + timedelta(hours=1), 60, 10)]
    ).succeeded
    clock.forward(600)
    (listed,) = esa.list_scheduled_preload_executions(job.id).items
    assert listed.status == "waiting" and esa.get_scheduled_preload_job(job.id).url_submitted == 0
    with pytest.raises(EsaApiError, match="ExecutionNotRunning"):
        esa.stop_scheduled_preload_execution(plan.id)

    # Activated, the plan runs from then on: the ten minutes it waited are not made up at once.
    clocked_sim.simulator.set_site_status(pending.site_id, "active")
    clock.forward(1)
    assert esa.get_scheduled_preload_job(job.id).url_submitted == 10
    assert esa.stop_scheduled_preload_execution(plan.id).status == "stopped"


def test_site_statuses_can_be_set_at_start_up(tmp_path: Path) -> None:
    config = SimConfig(state_path=tmp_path / "s.sqlite3", site_statuses={DEMO_SITE_ID: "offline"})
    with running_simulator(config) as sim, sim.client() as client:
        statuses = {site.site_id: site.status for site in client.list_sites().items}
    assert statuses[DEMO_SITE_ID] == "offline"
