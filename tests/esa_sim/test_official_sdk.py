"""Alibaba Cloud's own Python SDK cannot tell the simulator from ESA."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from alibabacloud_esa20240910 import models as esa_models
from alibabacloud_esa20240910.client import Client as SdkClient
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES
from prefetch_ui.esa_sim.testing import RunningSimulator
from tests.polling import eventually


def _sdk(sim: RunningSimulator, secret: str | None = None) -> SdkClient:
    config = openapi_models.Config(
        access_key_id=sim.access_key_id,
        access_key_secret=secret or sim.access_key_secret,
        endpoint=sim.url.removeprefix("http://"),
        protocol="http",
        read_timeout=10_000,
        connect_timeout=5_000,
    )
    return SdkClient(config)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_sdk_drives_the_whole_life_cycle(fast_sim: RunningSimulator) -> None:
    sdk = _sdk(fast_sim)
    sites = sdk.list_sites(esa_models.ListSitesRequest(page_size=50)).body
    assert (
        sites.total_count == len(SEED_SITES)
        and sites.sites[0].site_name == "example.com"
        and sites.request_id
    )

    created = sdk.create_scheduled_preload_job(
        esa_models.CreateScheduledPreloadJobRequest(
            site_id=DEMO_SITE_ID,
            name="SDK job ✓ a&b=c",
            insert_way="textBox",
            url_list="\n".join(f"https://example.com/{index}" for index in range(20)),
        )
    ).body
    assert created.name == "SDK job ✓ a&b=c" and created.url_count == 20 and len(created.id) == 24

    now = datetime.now(UTC)
    batch = sdk.create_scheduled_preload_executions(
        esa_models.CreateScheduledPreloadExecutionsRequest(
            id=created.id,
            executions=[
                esa_models.CreateScheduledPreloadExecutionsRequestExecutions(
                    start_time=_iso(now + timedelta(days=3)),
                    end_time=_iso(now + timedelta(days=4)),
                    interval=60,
                    slice_len=10,
                ),
                esa_models.CreateScheduledPreloadExecutionsRequestExecutions(
                    start_time=_iso(now),
                    end_time=_iso(now - timedelta(hours=1)),
                    interval=60,
                    slice_len=10,
                ),
                esa_models.CreateScheduledPreloadExecutionsRequestExecutions(
                    start_time=_iso(now),
                    end_time=_iso(now + timedelta(days=1)),
                    interval=30,
                    slice_len=5,
                ),
            ],
        )
    ).body
    assert (batch.total_count, batch.success_count, len(batch.failed_executions)) == (3, 2, 1)
    assert "end time is before start time" in batch.failed_messages[0]
    parked, runner = (plan.id for plan in batch.success_executions)

    jobs = sdk.list_scheduled_preload_jobs(
        esa_models.ListScheduledPreloadJobsRequest(site_id=DEMO_SITE_ID)
    ).body
    assert jobs.total_count == "1" and jobs.jobs[0].id == created.id

    # The parked plan is waiting: ESA stops only running plans and starts only stopped ones, and the
    # SDK sees the refusal as any other business error.
    with pytest.raises(AlibabaCloudException) as refused_stop:
        sdk.stop_scheduled_preload_execution(esa_models.StopScheduledPreloadExecutionRequest(id=parked))
    assert getattr(refused_stop.value, "code", None) == "OperationDenied.ExecutionNotRunning"
    with pytest.raises(AlibabaCloudException) as refused_start:
        sdk.start_scheduled_preload_execution(esa_models.StartScheduledPreloadExecutionRequest(id=parked))
    assert getattr(refused_start.value, "code", None) == "OperationDenied.ExecutionNotStopped"
    updated = sdk.update_scheduled_preload_execution(
        esa_models.UpdateScheduledPreloadExecutionRequest(
            id=parked,
            start_time=_iso(now + timedelta(days=5)),
            end_time=_iso(now + timedelta(days=6)),
            interval=120,
            slice_len=20,
        )
    ).body
    assert (updated.interval, updated.slice_len) == (120, 20)

    def runner_status() -> str:
        plans = sdk.list_scheduled_preload_executions(
            esa_models.ListScheduledPreloadExecutionsRequest(id=created.id)
        ).body
        return str({plan.id: plan.status for plan in plans.executions}[runner])

    eventually(
        lambda: runner_status() == "finished", interval=0.05, failure="the running plan never finished"
    )
    job = sdk.get_scheduled_preload_job(esa_models.GetScheduledPreloadJobRequest(id=created.id)).body
    assert (job.url_submitted, job.task_submitted) == (20, 20)

    reset = sdk.reset_scheduled_preload_job(esa_models.ResetScheduledPreloadJobRequest(id=created.id)).body
    assert reset.url_submitted == 0
    sdk.delete_scheduled_preload_execution(esa_models.DeleteScheduledPreloadExecutionRequest(id=parked))
    sdk.delete_scheduled_preload_job(esa_models.DeleteScheduledPreloadJobRequest(id=created.id))
    with pytest.raises(AlibabaCloudException) as caught:
        sdk.get_scheduled_preload_job(esa_models.GetScheduledPreloadJobRequest(id=created.id))
    assert getattr(caught.value, "code", None) == "InvalidJob.NotFound"
    assert getattr(caught.value, "status_code", None) == 404

    # What the SDK put on the wire is what the reference says: Executions as one compact JSON field.
    (create_call,) = [c for c in fast_sim.calls("CreateScheduledPreloadExecutions") if c["status"] == 200]
    assert json.loads(create_call["params"]["Executions"])[0]["Interval"] == 60
    assert ", " not in create_call["params"]["Executions"]


def test_the_sdk_with_a_wrong_secret_gets_a_signature_error(fast_sim: RunningSimulator) -> None:
    sdk = _sdk(fast_sim, secret="not-the-secret")
    with pytest.raises(AlibabaCloudException) as caught:
        sdk.list_sites(esa_models.ListSitesRequest())
    assert getattr(caught.value, "code", None) == "SignatureDoesNotMatch"
    assert getattr(caught.value, "status_code", None) == 400


def test_the_sdk_sees_business_errors_with_their_codes(fast_sim: RunningSimulator) -> None:
    sdk = _sdk(fast_sim)
    cases: list[tuple[Callable[[], object], str, int]] = [
        (
            lambda: sdk.get_scheduled_preload_job(esa_models.GetScheduledPreloadJobRequest(id="bad")),
            "InvalidParameter.ObjectId",
            400,
        ),
        (
            lambda: sdk.stop_scheduled_preload_execution(
                esa_models.StopScheduledPreloadExecutionRequest(id="0" * 24)
            ),
            "InvalidExecution.NotFound",
            404,
        ),
        (
            lambda: sdk.create_scheduled_preload_job(
                esa_models.CreateScheduledPreloadJobRequest(
                    site_id=DEMO_SITE_ID, name="x", insert_way="textBox"
                )
            ),
            "MissingUrlList",
            400,
        ),
        (
            lambda: sdk.create_scheduled_preload_job(
                esa_models.CreateScheduledPreloadJobRequest(site_id=DEMO_SITE_ID, name="x", insert_way="oss")
            ),
            "MissingOssUrl",
            400,
        ),
    ]
    for call, code, status in cases:
        with pytest.raises(AlibabaCloudException) as caught:
            call()
        assert (getattr(caught.value, "code", None), getattr(caught.value, "status_code", None)) == (
            code,
            status,
        )


def test_the_sdk_creates_a_plan_without_times(fast_sim: RunningSimulator) -> None:
    sdk = _sdk(fast_sim)
    created = sdk.create_scheduled_preload_job(
        esa_models.CreateScheduledPreloadJobRequest(
            site_id=DEMO_SITE_ID,
            name="untimed",
            insert_way="textBox",
            url_list="\n".join(f"https://example.com/{index}" for index in range(30)),
        )
    ).body
    batch = sdk.create_scheduled_preload_executions(
        esa_models.CreateScheduledPreloadExecutionsRequest(
            id=created.id,
            executions=[
                esa_models.CreateScheduledPreloadExecutionsRequestExecutions(interval=60, slice_len=10)
            ],
        )
    ).body
    assert (batch.total_count, batch.success_count) == (1, 1)
    (plan,) = batch.success_executions
    start = datetime.strptime(plan.start_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    end = datetime.strptime(plan.end_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    # Three batches of ten: the window closes two intervals after it opens (at once).
    assert end - start == timedelta(seconds=120)
    (sent,) = fast_sim.calls("CreateScheduledPreloadExecutions")
    assert json.loads(sent["params"]["Executions"]) == [{"Interval": 60, "SliceLen": 10}]

    def sent_urls() -> int:
        job = sdk.get_scheduled_preload_job(esa_models.GetScheduledPreloadJobRequest(id=created.id)).body
        return int(job.url_submitted)

    eventually(lambda: sent_urls() == 30, interval=0.05, failure="the untimed plan did not send every URL")


def test_the_sdk_lists_sites_by_exact_name_and_by_the_page(fast_sim: RunningSimulator) -> None:
    sdk = _sdk(fast_sim)
    exact = sdk.list_sites(esa_models.ListSitesRequest(site_name="example")).body
    assert (exact.total_count, exact.sites) == (0, [])
    fuzzy = sdk.list_sites(esa_models.ListSitesRequest(site_name="example", site_search_type="fuzzy")).body
    assert fuzzy.total_count == len(SEED_SITES)
    for index in range(9):
        fast_sim.simulator.add_site(f"more{index}.example.dev")
    pages = [
        sdk.list_sites(esa_models.ListSitesRequest(page_number=number, page_size=5)).body
        for number in (1, 2, 3)
    ]
    assert [len(page.sites) for page in pages] == [5, 5, 3]
    assert {page.total_count for page in pages} == {len(SEED_SITES) + 9}
    assert [page.page_size for page in pages] == [5, 5, 5]
    assert len({site.site_id for page in pages for site in page.sites}) == len(SEED_SITES) + 9
