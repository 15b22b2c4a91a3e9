"""The forecast's arithmetic: when a job's plans finish, and the URLs per minute they send.

Checked by hand on small cases, and against the simulator's own engine (which is what ESA does, as
far as this project knows) on many random ones, plans overlapping and running included.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from prefetch_ui.esa_sim.engine import JobProgress, PlanProgress, advance
from prefetch_ui.planning.forecast import (
    LoadSeries,
    ScheduledPlan,
    job_load,
    job_outlook,
    next_batch_at,
)
from prefetch_ui.planning.plan_math import PlanDraft, preview

NOW = datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)


def _minutes(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def test_one_plan_finishes_at_its_last_batch_and_sends_its_batch_size_each_minute() -> None:
    plan = ScheduledPlan(NOW, NOW + timedelta(hours=1), interval=60, slice_len=10)
    outlook = job_outlook(remaining_urls=100, plans=[plan], now=NOW)
    assert (outlook.finishes_at, outlook.unscheduled, outlook.will_finish) == (NOW + _minutes(9), 0, True)
    load = job_load(remaining_urls=100, plans=[plan], now=NOW, until=NOW + timedelta(hours=1))
    assert load.urls[:11] == [10] * 10 + [0]
    assert (load.total, load.peak) == (100, (NOW, 10))


def test_the_last_batch_takes_only_what_is_left() -> None:
    plan = ScheduledPlan(NOW, NOW + timedelta(hours=1), interval=30, slice_len=40)
    load = job_load(remaining_urls=100, plans=[plan], now=NOW, until=NOW + _minutes(5))
    assert load.urls == [80, 20, 0, 0, 0]
    assert job_outlook(remaining_urls=100, plans=[plan], now=NOW).finishes_at == NOW + timedelta(seconds=60)


def test_overlapping_plans_draw_from_one_list_and_finish_it_sooner() -> None:
    first = ScheduledPlan(NOW, NOW + timedelta(hours=1), interval=60, slice_len=10)
    second = ScheduledPlan(NOW + _minutes(2), NOW + timedelta(hours=1), interval=60, slice_len=20)
    outlook = job_outlook(remaining_urls=100, plans=[first, second], now=NOW)
    # 10, 10, then 30 a minute: 80 by the end of minute 3, the last 20 (of 30 possible) at minute 4.
    assert outlook.finishes_at == NOW + _minutes(4)
    load = job_load(remaining_urls=100, plans=[first, second], now=NOW, until=NOW + _minutes(8))
    assert load.urls == [10, 10, 30, 30, 20, 0, 0, 0]
    assert load.peak == (NOW + _minutes(2), 30)


def test_plans_whose_windows_close_first_leave_urls_without_a_plan() -> None:
    plans = [
        ScheduledPlan(NOW, NOW + _minutes(4), interval=60, slice_len=10),  # 5 batches: 50 URLs
        ScheduledPlan(NOW - timedelta(hours=2), NOW - timedelta(hours=1), interval=60, slice_len=10),  # over
    ]
    outlook = job_outlook(remaining_urls=120, plans=plans, now=NOW)
    assert (outlook.finishes_at, outlook.unscheduled, outlook.will_finish) == (None, 70, False)
    load = job_load(remaining_urls=120, plans=plans, now=NOW, until=NOW + _minutes(10))
    assert load.urls == [10] * 5 + [0] * 5


def test_no_plan_or_nothing_remaining() -> None:
    assert job_outlook(remaining_urls=30, plans=[], now=NOW).unscheduled == 30
    done = job_outlook(remaining_urls=0, plans=[ScheduledPlan(NOW, NOW, 60, 1)], now=NOW)
    assert (done.finishes_at, done.unscheduled) == (None, 0)
    assert job_load(remaining_urls=0, plans=[], now=NOW, until=NOW + _minutes(3)).urls == [0, 0, 0]
    assert job_load(remaining_urls=5, plans=[], now=NOW, until=NOW + _minutes(3)).peak is None


def test_a_running_plan_keeps_the_phase_of_its_start_and_a_late_waiting_one_fires_at_once() -> None:
    running = ScheduledPlan(NOW - timedelta(seconds=50), NOW + _minutes(10), 30, 5, running=True)
    assert next_batch_at(running, NOW) == NOW + timedelta(seconds=10)
    on_the_beat = ScheduledPlan(NOW - timedelta(seconds=60), NOW + _minutes(10), 30, 5, running=True)
    assert next_batch_at(on_the_beat, NOW) == NOW
    late = ScheduledPlan(NOW - _minutes(5), NOW + _minutes(10), 30, 5)
    assert next_batch_at(late, NOW) == NOW
    closed = ScheduledPlan(NOW - _minutes(5), NOW - _minutes(1), 30, 5, running=True)
    assert next_batch_at(closed, NOW) is None


def test_the_series_starts_at_the_minute_of_now_and_counts_only_what_is_still_to_come() -> None:
    now = NOW + timedelta(seconds=45)
    plan = ScheduledPlan(NOW, NOW + _minutes(3), interval=20, slice_len=1, running=True)
    load = job_load(remaining_urls=100, plans=[plan], now=now, until=NOW + _minutes(4))
    # Batch times 0, 20, 40 s have passed in minute 0; 60 s is the next one.
    assert load.start == NOW
    assert load.urls == [0, 3, 3, 1]


def test_a_batch_on_a_whole_minute_counts_in_that_minute_whatever_the_fraction_of_now() -> None:
    # A plan firing on every whole minute, asked at moments with microseconds: each batch in its own
    # minute, never a hair earlier (which would put two batches in one minute and none in the next).
    plan = ScheduledPlan(
        NOW - timedelta(hours=1), NOW + timedelta(hours=1), interval=60, slice_len=10, running=True
    )
    fast = ScheduledPlan(
        NOW - timedelta(hours=1), NOW + timedelta(hours=1), interval=30, slice_len=1, running=True
    )
    for microseconds in range(123, 60_000_000, 60_013):
        now = NOW + timedelta(microseconds=microseconds)
        load = job_load(remaining_urls=10_000, plans=[plan, fast], now=now, until=NOW + _minutes(5))
        # The 30-second plan's batch half-way through minute 0 is past once now is.
        assert load.urls == [1 if microseconds <= 30_000_000 else 0, 12, 12, 12, 12], microseconds


def test_series_add_and_refuse_another_start() -> None:
    total = LoadSeries(NOW, [1, 2])
    total.add(LoadSeries(NOW, [3, 4, 5]))
    assert total.urls == [4, 6, 5]
    with pytest.raises(ValueError, match="different starts"):
        total.add(LoadSeries(NOW + _minutes(1), [1]))


def _simulated(remaining: int, plans: list[ScheduledPlan], minutes: int) -> tuple[list[int], datetime | None]:
    """The simulator's engine: URLs submitted in each minute, and when the last one went out."""
    job = JobProgress(url_count=remaining, valid_flags="1" * remaining)
    progress = []
    for seq, plan in enumerate(plans):
        first = next_batch_at(plan, NOW)
        progress.append(
            PlanProgress(
                id=str(seq),
                seq=seq,
                start_time=plan.start.timestamp(),
                end_time=plan.end.timestamp(),
                interval=plan.interval,
                slice_len=plan.slice_len,
                state="active" if first is not None else "finished",
                next_batch_at=first.timestamp() if first is not None else None,
            )
        )
    per_minute, finished_at = [0] * minutes, None
    # Second by second (every batch time here is a whole second): the exact second of the last batch.
    for second in range(minutes * 60):
        before = job.cursor
        advance(job, progress, (NOW + timedelta(seconds=second)).timestamp())
        per_minute[second // 60] += job.cursor - before
        if finished_at is None and job.cursor >= remaining:
            finished_at = NOW + timedelta(seconds=second)
    return per_minute, finished_at


@pytest.mark.parametrize("seed", range(60))
def test_agrees_with_the_simulators_engine_on_random_jobs(seed: int) -> None:
    rng = random.Random(seed)
    plans = []
    for _ in range(rng.randint(1, 4)):
        start = NOW + timedelta(seconds=rng.randint(-900, 1800))
        running = start < NOW and rng.random() < 0.6
        plans.append(
            ScheduledPlan(
                start,
                start + timedelta(seconds=rng.randint(0, 3600)),
                interval=rng.choice([1, 7, 20, 30, 60, 90, 300]),
                slice_len=rng.randint(1, 50),
                running=running,
            )
        )
    remaining = rng.randint(1, 3000)
    minutes = 120
    expected_load, expected_finish = _simulated(remaining, plans, minutes)
    load = job_load(remaining_urls=remaining, plans=plans, now=NOW, until=NOW + _minutes(minutes))
    assert load.urls == expected_load
    outlook = job_outlook(remaining_urls=remaining, plans=plans, now=NOW)
    if outlook.finishes_at is not None and outlook.finishes_at < NOW + _minutes(minutes):
        assert outlook.finishes_at == expected_finish
    if outlook.unscheduled:
        assert sum(expected_load) == remaining - outlook.unscheduled


@pytest.mark.parametrize("seed", range(30))
def test_agrees_with_the_plan_builders_preview_on_when_a_batch_finishes(seed: int) -> None:
    rng = random.Random(1000 + seed)
    drafts = []
    for _ in range(rng.randint(1, 5)):
        start = NOW + timedelta(seconds=rng.randint(0, 7200))
        drafts.append(
            PlanDraft(
                start,
                start + timedelta(seconds=rng.randint(60, 7200)),
                rng.randint(1, 600),
                rng.randint(1, 80),
            )
        )
    remaining = rng.randint(1, 5000)
    built = preview(drafts, remaining_urls=remaining, now=NOW)
    outlook = job_outlook(
        remaining_urls=remaining,
        plans=[ScheduledPlan(d.start, d.end, d.interval, d.slice_len) for d in drafts],
        now=NOW,
    )
    if built.left_over:
        assert (outlook.finishes_at, outlook.unscheduled) == (None, built.left_over)
    else:
        assert outlook.finishes_at == built.finishes_at
