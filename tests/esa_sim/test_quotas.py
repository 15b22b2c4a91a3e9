"""The prefetch quota, the purge quotas and site pause: the official SDK's models read the answers,
batches past the quota are refused with QuotaExcess, the quota renews at the site's midnight, and
a paused site's plans wait."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alibabacloud_esa20240910 import models as esa_models
from alibabacloud_esa20240910.client import Client as SdkClient
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES, Quotas, SimConfig
from prefetch_ui.esa_sim.server import build_parser, config_from_args
from prefetch_ui.esa_sim.store import Store
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator, running_simulator

# 480x on a hand-moved clock: a simulated day is three minutes of the clock, well inside the
# 15 minutes the signature check allows between the client's time and the simulator's.
SPEED = 480
QUOTA = 25


def _sdk(sim: RunningSimulator) -> SdkClient:
    config = openapi_models.Config(
        access_key_id=sim.access_key_id,
        access_key_secret=sim.access_key_secret,
        endpoint=sim.url.removeprefix("http://"),
        protocol="http",
        read_timeout=10_000,
        connect_timeout=5_000,
    )
    return SdkClient(config)


def test_the_sdk_models_read_the_quota_and_pause_answers(fast_sim: RunningSimulator) -> None:
    sdk = _sdk(fast_sim)
    quotas = sdk.list_instance_quotas(
        esa_models.ListInstanceQuotasRequest(
            site_id=DEMO_SITE_ID, quota_names="preload,refresh_file,siteCount"
        )
    ).body
    assert isinstance(quotas, esa_models.ListInstanceQuotasResponseBody)
    assert (quotas.instance_id, quotas.status) == (f"esa-site-{DEMO_SITE_ID}", "online") and quotas.request_id
    assert [(q.quota_name, q.quota_value, q.quota_value_type) for q in quotas.quotas] == [
        ("preload", str(Quotas().preload_per_day), "num"),
        ("refresh_file", str(Quotas().purge_per_day), "num"),
    ]
    purge = sdk.get_purge_quota(esa_models.GetPurgeQuotaRequest(site_id=DEMO_SITE_ID, type="file")).body
    assert isinstance(purge, esa_models.GetPurgeQuotaResponseBody)
    assert (purge.quota, purge.usage, purge.quota_30day, purge.usage_30day) == ("10000", "0", "0", "0")
    assert purge.request_id

    def paused() -> object:
        body = sdk.get_site_pause(esa_models.GetSitePauseRequest(site_id=DEMO_SITE_ID)).body
        assert isinstance(body, esa_models.GetSitePauseResponseBody) and body.request_id
        return body.paused

    assert paused() is False
    done = sdk.update_site_pause(esa_models.UpdateSitePauseRequest(site_id=DEMO_SITE_ID, paused=True)).body
    assert isinstance(done, esa_models.UpdateSitePauseResponseBody) and done.request_id
    assert paused() is True
    sdk.update_site_pause(esa_models.UpdateSitePauseRequest(site_id=DEMO_SITE_ID, paused=False))
    assert paused() is False

    cases: list[tuple[Callable[[], object], str]] = [
        (
            lambda: sdk.get_purge_quota(esa_models.GetPurgeQuotaRequest(site_id=DEMO_SITE_ID, type="all")),
            "InvalidParameter",
        ),
        (lambda: sdk.get_site_pause(esa_models.GetSitePauseRequest(site_id=1)), "InvalidSiteId.NotFound"),
        (
            lambda: sdk.list_instance_quotas(esa_models.ListInstanceQuotasRequest(site_id=DEMO_SITE_ID)),
            "MissingParameter",
        ),
    ]
    for call, code in cases:
        with pytest.raises(AlibabaCloudException) as caught:
            call()
        assert getattr(caught.value, "code", None) == code


def test_update_site_pause_is_refused_on_a_site_that_is_not_active_or_not_on_ns(
    fast_sim: RunningSimulator,
) -> None:
    # ESA: UpdateSitePause works "on activated sites with NS access only" (docs/esa-api.md#quotas);
    # the codes are the simulator's own, since ESA publishes none for these refusals.
    sdk = _sdk(fast_sim)
    pending = next(site.site_id for site in SEED_SITES if site.status != "active")
    cname = fast_sim.simulator.add_site("cname.example.dev", access_type="CNAME")
    offline = fast_sim.simulator.add_site("offline.example.dev", status="offline")
    for site_id, code in (
        (pending, "OperationDenied.SiteNotActive"),
        (offline, "OperationDenied.SiteNotActive"),
        (cname, "OperationDenied.AccessTypeNotSupported"),
    ):
        for paused in (True, False):
            with pytest.raises(AlibabaCloudException) as caught:
                sdk.update_site_pause(esa_models.UpdateSitePauseRequest(site_id=site_id, paused=paused))
            assert (getattr(caught.value, "code", None), getattr(caught.value, "status_code", None)) == (
                code,
                400,
            )
        # Nothing changed: reading the pause still works there, and says not paused.
        body = sdk.get_site_pause(esa_models.GetSitePauseRequest(site_id=site_id)).body
        assert isinstance(body, esa_models.GetSitePauseResponseBody) and body.paused is False
    # An active NS site is paused as before.
    sdk.update_site_pause(esa_models.UpdateSitePauseRequest(site_id=DEMO_SITE_ID, paused=True))
    assert sdk.get_site_pause(esa_models.GetSitePauseRequest(site_id=DEMO_SITE_ID)).body.paused is True


@pytest.fixture
def quota_sim(tmp_path: Path, clock: ManualClock) -> Iterator[RunningSimulator]:
    config = SimConfig(
        state_path=tmp_path / "quota.sqlite3",
        speed=SPEED,
        quotas=Quotas(preload_per_site={DEMO_SITE_ID: QUOTA}),
    )
    with running_simulator(config, real_time=clock) as running:
        yield running


def _to_simulated(clock: ManualClock, sim: RunningSimulator, moment: float) -> None:
    """Move the hand clock so the simulator's time is `moment`."""
    clock.forward((moment - sim.simulator.store.clock.now()) / SPEED)


def _job_with_plan(esa: EsaClient, sim: RunningSimulator, name: str, urls: int) -> str:
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name=name, urls=[f"https://example.com/{name}/{n}" for n in range(urls)]
    )
    start = datetime.fromtimestamp(sim.simulator.store.clock.now(), UTC)
    result = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start_time=start, end_time=start + timedelta(hours=1), interval=60, slice_len=10)]
    )
    assert result.success_count == 1
    return job.id


def test_batches_past_the_quota_are_refused_until_the_sites_midnight(
    quota_sim: RunningSimulator, clock: ManualClock
) -> None:
    quotas = quota_sim.simulator.config.quotas
    # Start just after a midnight in Asia/Shanghai, so the whole first day is ahead.
    _to_simulated(clock, quota_sim, quotas.day_of(quota_sim.simulator.store.clock.now())[1] + 60)
    with quota_sim.client() as esa:
        first = _job_with_plan(esa, quota_sim, "first", 40)
        clock.forward(600 / SPEED)  # ten simulated minutes: every batch has gone out
        job = esa.get_scheduled_preload_job(first)
        assert (job.url_submitted, job.task_submitted) == (40, QUOTA)
        assert job.error_info == "quota excess:15 urls refused (the site's daily prefetch quota was used up)"
        assert esa.list_scheduled_preload_executions(first).items[0].status == "finished"

        # The quota is used up: the next job's batch is refused whole, and its plan fails.
        second = _job_with_plan(esa, quota_sim, "second", 10)
        clock.forward(120 / SPEED)
        job = esa.get_scheduled_preload_job(second)
        assert (job.url_submitted, job.task_submitted) == (10, 0)
        assert job.error_info.startswith("quota excess:10 urls refused")
        assert esa.list_scheduled_preload_executions(second).items[0].status == "failed"
        assert quota_sim.simulator.preload_used(DEMO_SITE_ID) == QUOTA

        # One minute before the next midnight, still nothing; one minute after, a full quota again.
        now = quota_sim.simulator.store.clock.now()
        _to_simulated(clock, quota_sim, quotas.day_of(now)[1] - 60)
        late = _job_with_plan(esa, quota_sim, "late", 10)
        clock.forward(30 / SPEED)
        assert esa.get_scheduled_preload_job(late).task_submitted == 0
        _to_simulated(clock, quota_sim, quotas.day_of(now)[1] + 60)
        fresh = _job_with_plan(esa, quota_sim, "fresh", 20)
        clock.forward(180 / SPEED)
        job = esa.get_scheduled_preload_job(fresh)
        assert (job.url_submitted, job.task_submitted, job.error_info) == (20, 20, "")


def test_a_catch_up_across_midnight_charges_each_batch_to_its_own_day(
    quota_sim: RunningSimulator, clock: ManualClock
) -> None:
    quotas = quota_sim.simulator.config.quotas
    midnight = quotas.day_of(quota_sim.simulator.store.clock.now())[1] + 86_400
    _to_simulated(clock, quota_sim, midnight - 90)
    with quota_sim.client() as esa:
        job_id = _job_with_plan(esa, quota_sim, "across", 40)
        # Batches at -90 s, -30 s, +30 s and +90 s, all computed by one read: 20 URLs each day.
        _to_simulated(clock, quota_sim, midnight + 120)
        job = esa.get_scheduled_preload_job(job_id)
        assert (job.url_submitted, job.task_submitted, job.error_info) == (40, 40, "")
        assert quota_sim.simulator.preload_used(DEMO_SITE_ID) == 20
        assert quota_sim.simulator.preload_used(DEMO_SITE_ID, midnight - 1) == 20


def test_the_quota_day_is_the_time_zones() -> None:
    shanghai = Quotas().day_of(datetime(2026, 12, 7, 15, 59, tzinfo=UTC).timestamp())
    assert shanghai == (
        datetime(2026, 12, 6, 16, tzinfo=UTC).timestamp(),
        datetime(2026, 12, 7, 16, tzinfo=UTC).timestamp(),
    )
    utc = Quotas(time_zone="UTC").day_of(datetime(2026, 12, 7, 15, 59, tzinfo=UTC).timestamp())
    assert utc[0] == datetime(2026, 12, 7, tzinfo=UTC).timestamp()


def test_a_paused_sites_plans_wait_and_resume(clocked_sim: RunningSimulator, clock: ManualClock) -> None:
    with clocked_sim.client() as esa:
        job = esa.create_scheduled_preload_job(
            site_id=DEMO_SITE_ID, name="paused", urls=[f"https://example.com/{n}" for n in range(30)]
        )
        start = datetime.fromtimestamp(clocked_sim.simulator.store.clock.now(), UTC) + timedelta(seconds=60)
        esa.create_scheduled_preload_executions(
            job.id,
            [PlanSpec(start_time=start, end_time=start + timedelta(hours=1), interval=60, slice_len=10)],
        )
        esa.update_site_pause(site_id=DEMO_SITE_ID, paused=True)
        assert esa.get_site_pause(site_id=DEMO_SITE_ID) is True
        clock.forward(300)
        assert esa.get_scheduled_preload_job(job.id).url_submitted == 0
        assert esa.list_scheduled_preload_executions(job.id).items[0].status == "waiting"

        esa.update_site_pause(site_id=DEMO_SITE_ID, paused=False)
        assert esa.get_site_pause(site_id=DEMO_SITE_ID) is False
        clock.forward(150)  # the first batch at the resume, then two more a minute apart
        assert esa.get_scheduled_preload_job(job.id).url_submitted == 30
        assert esa.list_scheduled_preload_executions(job.id).items[0].status == "finished"


def test_the_command_line_sets_the_quotas() -> None:
    args = build_parser().parse_args(
        [
            "--preload-quota", "5000",
            "--site-preload-quota", f"{DEMO_SITE_ID}=20",
            "--quota-time-zone", "UTC",
            "--purge-quota", "300",
            "--purge-quota-30-day", "9000",
        ]
    )  # fmt: skip
    quotas = config_from_args(args).quotas
    assert quotas == Quotas(
        preload_per_day=5000,
        preload_per_site={DEMO_SITE_ID: 20},
        time_zone="UTC",
        purge_per_day=300,
        purge_per_30_days=9000,
    )
    assert (quotas.preload_quota(DEMO_SITE_ID), quotas.preload_quota(1)) == (20, 5000)
    with pytest.raises(SystemExit):
        config_from_args(build_parser().parse_args(["--quota-time-zone", "Mars/Olympus"]))


def test_a_state_file_from_before_the_quotas_gains_their_columns(tmp_path: Path) -> None:
    state = tmp_path / "old.sqlite3"
    old = sqlite3.connect(state)
    old.executescript(
        """
        CREATE TABLE sites (
            site_id INTEGER PRIMARY KEY, site_name TEXT NOT NULL, status TEXT NOT NULL,
            access_type TEXT NOT NULL, coverage TEXT NOT NULL, plan_name TEXT NOT NULL,
            create_time REAL NOT NULL
        );
        INSERT INTO sites VALUES (7, 'old.example', 'active', 'NS', 'global', 'basic', 0);
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY, seq INTEGER NOT NULL, site_id INTEGER NOT NULL, name TEXT NOT NULL,
            insert_way TEXT NOT NULL, oss_url TEXT NOT NULL DEFAULT '', urls TEXT NOT NULL,
            valid_flags TEXT NOT NULL, url_count INTEGER NOT NULL, cursor INTEGER NOT NULL DEFAULT 0,
            task_submitted INTEGER NOT NULL DEFAULT 0, domains TEXT NOT NULL, error_info TEXT NOT NULL,
            file_id TEXT NOT NULL, created_at REAL NOT NULL
        );
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, plan_id TEXT NOT NULL,
            job_id TEXT NOT NULL, site_id INTEGER NOT NULL, urls INTEGER NOT NULL
        );
        """
    )
    old.close()
    store = Store(state, speed=1)
    try:
        for table, column in (("sites", "paused"), ("jobs", "quota_refused"), ("batches", "admitted")):
            assert column in {row[1] for row in store.db.execute(f"PRAGMA table_info({table})")}
        assert store.db.execute("SELECT paused FROM sites WHERE site_id = 7").fetchone()[0] == 0
    finally:
        store.close()
