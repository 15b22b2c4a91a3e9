"""The acceptance test of the quota forecast: on a morning, from what ESA answers over HTTP (the
simulator, through our client), forecast the site's prefetch quota for today and tomorrow; then let
the simulated days run and hold the forecast to the simulator's own accounting (the quota used each
day, the URLs its jobs report refused in QuotaExcess, the first batch it refused)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from prefetch_ui.esa import EsaClient, Job, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, Quotas, SimConfig
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator, running_simulator
from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.planning.quotas import QuotaDayForecast, QuotaJob, quota_forecast
from prefetch_ui.prefetch.error_info import ErrorKind, error_info_entries

# 600x on a hand-moved clock: the two simulated days here are under six minutes of the clock, inside
# the 15 minutes the signature check allows between the client's time and the simulator's.
SPEED = 600
QUOTA = 2000
ZONE = "Asia/Shanghai"
QUARTER = 900  # every batch here falls on a quarter hour


@pytest.fixture
def sim(tmp_path: Path, clock: ManualClock) -> Iterator[RunningSimulator]:
    config = SimConfig(
        state_path=tmp_path / "quota-forecast.sqlite3",
        speed=SPEED,
        quotas=Quotas(preload_per_site={DEMO_SITE_ID: QUOTA}, time_zone=ZONE),
    )
    with running_simulator(config, real_time=clock) as running:
        yield running


def _sim_now(sim: RunningSimulator) -> float:
    return sim.simulator.store.clock.now()


def _to_simulated(clock: ManualClock, sim: RunningSimulator, moment: datetime) -> None:
    """Move the hand clock so the simulator's time is `moment`."""
    clock.forward((moment.timestamp() - _sim_now(sim)) / SPEED)


def _job(esa: EsaClient, name: str, urls: int, plans: list[tuple[datetime, datetime, int, int]]) -> str:
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name=name, urls=[f"https://example.com/{name}/{n}" for n in range(urls)]
    )
    specs = [PlanSpec(start_time=s, end_time=e, interval=i, slice_len=n) for s, e, i, n in plans]
    assert esa.create_scheduled_preload_executions(job.id, specs).success_count == len(specs)
    return job.id


def _site_jobs(esa: EsaClient) -> list[Job]:
    """The site's jobs as ESA answers them (reading them also makes the simulator fire what is due)."""
    return list(esa.iter_scheduled_preload_jobs(site_id=DEMO_SITE_ID))


def _quota_jobs(esa: EsaClient, jobs: list[Job]) -> list[QuotaJob]:
    """What the dashboard knows of each job from ESA: URLs not yet submitted, plans that will still fire."""
    quota_jobs = []
    for job in jobs:
        plans = []
        for plan in esa.list_scheduled_preload_executions(job.id).items:
            if plan.status not in ("waiting", "running"):
                continue
            assert plan.start_time is not None and plan.end_time is not None
            running = plan.status == "running"
            plans.append(
                ScheduledPlan(plan.start_time, plan.end_time, plan.interval, plan.slice_len, running)
            )
        quota_jobs.append(QuotaJob(remaining_urls=job.url_count - job.url_submitted, plans=plans))
    return quota_jobs


def _refused_by_jobs(jobs: list[Job]) -> int:
    """The URLs the site's jobs report refused by the quota, from their ErrorInfo."""
    return sum(
        entry.urls or 0
        for job in jobs
        for entry in error_info_entries(job.error_info)
        if entry.kind == ErrorKind.QUOTA_REFUSED
    )


def _recorded(sim: RunningSimulator, since: datetime, until: datetime) -> tuple[int, int, datetime | None]:
    """The simulator's batches table from `since` to `until`: URLs sent, URLs refused, the first refused."""
    db = sqlite3.connect(f"file:{sim.simulator.store.path}?mode=ro", uri=True)
    try:
        urls, refused, first = db.execute(
            "SELECT COALESCE(SUM(urls), 0), COALESCE(SUM(refused), 0), MIN(CASE WHEN refused > 0 THEN at END)"
            " FROM batches WHERE site_id = ? AND at >= ? AND at < ?",
            (DEMO_SITE_ID, since.timestamp(), until.timestamp()),
        ).fetchone()
    finally:
        db.close()
    return int(urls), int(refused), None if first is None else datetime.fromtimestamp(first, UTC)


def test_the_forecast_made_in_the_morning_is_what_the_simulator_charges(
    sim: RunningSimulator, clock: ManualClock
) -> None:
    zone = ZoneInfo(ZONE)
    quotas = sim.simulator.config.quotas
    # Day 1 is the next whole quota day; times below are its local times (day 2's past 24:00).
    day_1 = datetime.fromtimestamp(quotas.day_of(_sim_now(sim))[1], zone)

    def at(hours: float) -> datetime:
        return (day_1 + timedelta(hours=hours)).astimezone(UTC)

    _to_simulated(clock, sim, at(6))
    with sim.client() as esa:
        # A: 600 URLs, 40 a quarter hour from 07:00: done at 10:30.
        _job(esa, "a", 600, [(at(7), at(13), QUARTER, 40)])
        # B: 100 URLs a half hour from 08:00 to 20:00, then 60 a quarter hour from 23:00 to 03:00.
        _job(esa, "b", 3000, [(at(8), at(20), 2 * QUARTER, 100), (at(23), at(27), QUARTER, 60)])
        # C: 80 URLs an hour from 12:00 to 23:00, then 50 a quarter hour from midnight exactly.
        _job(esa, "c", 1200, [(at(12), at(23.75), 4 * QUARTER, 80), (at(24), at(29), QUARTER, 50)])
        # D: 100 URLs a quarter hour on day 2, 01:00 to 06:00: all of its 2,100.
        _job(esa, "d", 2100, [(at(25), at(30), QUARTER, 100)])

        # The morning: one jump to 09:07:30, half-way between two quarter hours, and read ESA. The
        # simulator charges the batches due meanwhile in time order across the jobs, as ESA does.
        _to_simulated(clock, sim, at(9.125))
        jobs = _site_jobs(esa)
        quota = esa.list_instance_quotas(site_id=DEMO_SITE_ID).get("preload")
        assert quota is not None and quota.number == QUOTA
        used_today = sum(job.task_submitted for job in jobs)  # every job started today
        assert used_today == sim.simulator.preload_used(DEMO_SITE_ID) == 360 + 300
        now = datetime.fromtimestamp(_sim_now(sim), UTC)
        today, tomorrow = quota_forecast(
            quota=quota.number, used_today=used_today, jobs=_quota_jobs(esa, jobs), now=now, zone=zone, days=2
        )

        # What the arithmetic says, worked by hand: 340 left; by 14:00 A's 240, B's 1,000 and C's 240
        # have gone (1,480 > 340). Tomorrow B's last 260 and C's last 240 from midnight, D's 2,100 from
        # 01:00: 600 by 01:00, then 100 a quarter hour passes 2,000 at 04:45.
        assert today == QuotaDayForecast(
            start=at(0), end=at(24), quota=QUOTA, used=660, scheduled=3640, runs_out_at=at(14), refused=2300
        )
        assert tomorrow == QuotaDayForecast(
            start=at(24), end=at(48), quota=QUOTA, used=0, scheduled=2600, runs_out_at=at(28.75), refused=600
        )

        # Day 1 runs out: every batch of today has gone by 23:52:30, none of tomorrow's yet. One
        # jump there, then one read.
        _to_simulated(clock, sim, at(23.875))
        assert _refused_by_jobs(_site_jobs(esa)) == today.refused
        assert sim.simulator.preload_used(DEMO_SITE_ID) == min(QUOTA, today.used + today.scheduled)
        assert _recorded(sim, now, today.end) == (today.scheduled, today.refused, today.runs_out_at)

        # Day 2 runs out, and the quota was renewed at midnight: one jump to 06:07:30.
        _to_simulated(clock, sim, at(30.125))
        jobs = _site_jobs(esa)
        assert _refused_by_jobs(jobs) == today.refused + tomorrow.refused
        assert sim.simulator.preload_used(DEMO_SITE_ID) == min(QUOTA, tomorrow.scheduled)
        assert _recorded(sim, tomorrow.start, tomorrow.end) == (
            tomorrow.scheduled,
            tomorrow.refused,
            tomorrow.runs_out_at,
        )
        # Every job's list ran out, refused URLs included: nothing is left for a third day.
        assert all(job.url_submitted == job.url_count for job in jobs)
