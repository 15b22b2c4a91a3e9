"""A plan created without StartTime or EndTime, which CreateScheduledPreloadExecutions takes as
optional: it starts when ESA gets it and runs until the job's URLs are sent (our reading,
docs/esa-api.md#create-plans)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator


def _job(esa: EsaClient, urls: int) -> str:
    return esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="untimed", urls=[f"https://example.com/{index}" for index in range(urls)]
    ).id


def _at(clock: ManualClock) -> datetime:
    return datetime.fromtimestamp(int(clock.now), UTC)


def test_without_times_a_plan_starts_now_and_runs_until_the_urls_are_sent(
    clocked_esa_client: EsaClient, clocked_sim: RunningSimulator, clock: ManualClock
) -> None:
    job_id = _job(clocked_esa_client, urls=25)
    created = clocked_esa_client.create_scheduled_preload_executions(
        job_id, [PlanSpec(None, None, interval=60, slice_len=10)]
    )
    (plan,) = created.succeeded
    # Our client left both times out of the request...
    (call,) = clocked_sim.calls("CreateScheduledPreloadExecutions")
    assert json.loads(call["params"]["Executions"]) == [{"Interval": 60, "SliceLen": 10}]
    # ...and ESA's answer has both: now, and the batch that sends the last of 25 URLs (10, 10, 5).
    assert plan.start_time == _at(clock)
    assert plan.end_time == _at(clock) + timedelta(seconds=120)

    clock.forward(60)
    assert clocked_esa_client.get_scheduled_preload_job(job_id).url_submitted == 20
    clock.forward(61)
    (listed,) = clocked_esa_client.list_scheduled_preload_executions(job_id).items
    assert listed.status == "finished"
    assert clocked_esa_client.get_scheduled_preload_job(job_id).url_submitted == 25


def test_either_time_alone_is_completed_by_esa(clocked_esa_client: EsaClient, clock: ManualClock) -> None:
    job_id = _job(clocked_esa_client, urls=30)
    later = _at(clock) + timedelta(hours=2)
    created = clocked_esa_client.create_scheduled_preload_executions(
        job_id,
        [
            PlanSpec(later, None, interval=300, slice_len=10),  # three batches: its end two intervals on
            PlanSpec(None, later, interval=300, slice_len=10),  # starts now, ends where it was told
        ],
    )
    first, second = created.succeeded
    assert (first.start_time, first.end_time) == (later, later + timedelta(seconds=600))
    assert (second.start_time, second.end_time) == (_at(clock), later)


def test_an_end_before_the_default_start_and_an_unreadable_time_are_still_refused(
    clocked_esa_client: EsaClient, clock: ManualClock
) -> None:
    job_id = _job(clocked_esa_client, urls=5)
    created = clocked_esa_client.create_scheduled_preload_executions(
        job_id, [PlanSpec(None, _at(clock) - timedelta(hours=1), interval=60, slice_len=10)]
    )
    assert created.success_count == 0
    assert "end time is before start time" in created.failed_messages[0]
    answer = clocked_esa_client.call(
        "CreateScheduledPreloadExecutions",
        {"Id": job_id, "Executions": [{"StartTime": "tomorrow", "Interval": 60, "SliceLen": 10}]},
    )
    assert answer["SuccessCount"] == 0
    assert "start time is not a valid time" in answer["FailedMessages"][0]


def test_an_update_without_times_keeps_the_plans_window(
    clocked_esa_client: EsaClient, clock: ManualClock
) -> None:
    job_id = _job(clocked_esa_client, urls=5)
    start, end = _at(clock) + timedelta(days=1), _at(clock) + timedelta(days=2)
    (plan,) = clocked_esa_client.create_scheduled_preload_executions(
        job_id, [PlanSpec(start, end, interval=60, slice_len=10)]
    ).succeeded
    updated = clocked_esa_client.update_scheduled_preload_execution(
        plan.id, PlanSpec(None, None, interval=120, slice_len=5)
    )
    assert (updated.start_time, updated.end_time, updated.interval, updated.slice_len) == (start, end, 120, 5)
