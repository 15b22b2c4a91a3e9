"""The quota forecast agrees with the simulator's own engine played out batch by batch: for random
small schedules over a few quota days, what each day sends, what its quota refuses, and the time of
its first refused batch are what `engine.advance` charges with a per-day quota as the backend's
`_admitter` does (the day of `Quotas.day_of`, the simulator's)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from prefetch_ui.esa_sim import Quotas
from prefetch_ui.esa_sim.engine import Batch, JobProgress, PlanProgress, advance
from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.planning.quotas import QuotaJob, quota_forecast

# Two days before Berlin moves its clocks forward (2031-03-30): its quota days include one of 23 hours.
T0 = datetime(2031, 3, 29, 6, 0, tzinfo=UTC)
ZONES = ("Asia/Shanghai", "UTC", "America/St_Johns", "Europe/Berlin")
DAYS = 4  # from `now` (at most 30 hours after T0) past the last batch (at most 70 hours after T0)


@dataclass(frozen=True)
class PlanDraw:
    start: int  # seconds after T0
    length: int
    interval: int
    slice_len: int


@dataclass(frozen=True)
class Schedule:
    zone: str
    quota: int
    used_elsewhere: int  # charged to the day of `now` by what the jobs do not show (deleted jobs)
    now: float  # seconds after T0, half-way between whole seconds: never a batch time
    jobs: tuple[tuple[int, tuple[PlanDraw, ...]], ...]  # (URLs, plans) a job


plan_draws = st.builds(
    PlanDraw,
    # Half-hours often: from T0 (06:00 UTC), some batches then fall on every zone's midnight.
    start=st.integers(0, 80).map(lambda halves: halves * 1800) | st.integers(0, 40 * 3600),
    length=st.integers(0, 30 * 3600),
    interval=st.sampled_from([30, 60, 90, 300, 900, 1800, 3600, 5400]),
    slice_len=st.integers(1, 60),
)
schedules = st.builds(
    Schedule,
    zone=st.sampled_from(ZONES),
    quota=st.integers(0, 300) | st.integers(0, 2000),
    used_elsewhere=st.just(0) | st.integers(0, 2500),
    now=st.integers(0, 30 * 3600).map(lambda seconds: seconds + 0.5),
    jobs=st.lists(
        st.tuples(st.integers(0, 2500), st.lists(plan_draws, min_size=1, max_size=4).map(tuple)),
        min_size=1,
        max_size=4,
    ).map(tuple),
)


def _epoch(seconds_after_t0: float) -> float:
    return T0.timestamp() + seconds_after_t0


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class _Site:
    """The jobs of one site in the simulator's engine, charged to a per-day quota like the backend's."""

    def __init__(self, schedule: Schedule) -> None:
        self.quotas = Quotas(time_zone=schedule.zone)
        self.quota = schedule.quota
        self.used: defaultdict[float, int] = defaultdict(int)
        self.used[self.quotas.day_of(_epoch(schedule.now))[0]] = schedule.used_elsewhere
        self.jobs: list[tuple[JobProgress, list[PlanProgress]]] = []
        for number, (urls, draws) in enumerate(schedule.jobs):
            plans = [
                PlanProgress(
                    id=f"{number}-{index}",
                    seq=index,
                    start_time=_epoch(draw.start),
                    end_time=_epoch(draw.start + draw.length),
                    interval=draw.interval,
                    slice_len=draw.slice_len,
                    state="active",
                    next_batch_at=_epoch(draw.start),
                )
                for index, draw in enumerate(draws)
            ]
            self.jobs.append((JobProgress(url_count=urls, valid_flags="1" * urls), plans))

    def admit(self, at: float, wanted: int) -> int:
        day = self.quotas.day_of(at)[0]
        admitted = max(0, min(wanted, self.quota - self.used[day]))
        self.used[day] += admitted
        return admitted

    def play_until(self, until: float) -> list[Batch]:
        """Every batch due by `until`, in time order across the jobs (as ESA charges in real time)."""
        fired: list[Batch] = []
        while True:
            due = [
                plan.next_batch_at
                for _, plans in self.jobs
                for plan in plans
                if plan.state == "active" and plan.next_batch_at is not None
            ]
            moment = min(due, default=None)
            if moment is None or moment > until:
                break
            for job, plans in self.jobs:
                fired += advance(job, plans, moment, admit=self.admit)
        for job, plans in self.jobs:
            fired += advance(job, plans, until, admit=self.admit)
        return fired

    def quota_jobs(self) -> list[QuotaJob]:
        """The jobs as ESA would answer them now: URLs not yet submitted, waiting or running plans."""
        return [
            QuotaJob(
                remaining_urls=job.url_count - job.cursor,
                plans=[
                    ScheduledPlan(
                        _moment(plan.start_time),
                        _moment(plan.end_time),
                        plan.interval,
                        plan.slice_len,
                        running=plan.fired_since_start,
                    )
                    for plan in plans
                    if plan.state == "active"
                ],
            )
            for job, plans in self.jobs
        ]


@settings(max_examples=150, deadline=None)
@given(schedules)
def test_the_forecast_agrees_with_the_simulators_engine_day_by_day(schedule: Schedule) -> None:
    site = _Site(schedule)
    now = _epoch(schedule.now)
    past = site.play_until(now)
    today = site.quotas.day_of(now)
    used_today = schedule.used_elsewhere + sum(
        batch.admitted for batch in past if today[0] <= batch.at < today[1]
    )
    forecasts = quota_forecast(
        quota=schedule.quota,
        used_today=used_today,
        jobs=site.quota_jobs(),
        now=_moment(now),
        zone=ZoneInfo(schedule.zone),
        days=DAYS,
    )
    future = site.play_until(_epoch(80 * 3600))
    assert all(batch.at > now for batch in future)
    assert forecasts[-1].end.timestamp() > max((batch.at for batch in future), default=0)
    for index, day in enumerate(forecasts):
        start, end = day.start.timestamp(), day.end.timestamp()
        assert site.quotas.day_of(start) == (start, end)
        batches = [batch for batch in future if start <= batch.at < end]
        refused = [batch.at for batch in batches if batch.refused]
        assert day.used == (used_today if index == 0 else 0)
        assert day.scheduled == sum(batch.urls for batch in batches)
        assert day.refused == sum(batch.refused for batch in batches)
        assert day.runs_out_at == (_moment(min(refused)) if refused else None)
        # What the day used in the end, as the simulator's `preload_used` adds it up.
        assert day.used + day.scheduled - day.refused == site.used[start]
