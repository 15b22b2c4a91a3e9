"""A resume's ramp: the window arithmetic and the cap, by hand on small cases, as properties on random
ones (Hypothesis), and against the simulator's engine, which fires the ramped windows as ESA would."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefetch_ui.esa_sim.engine import JobProgress, PlanProgress, advance
from prefetch_ui.planning.ramp import (
    RampError,
    ResumedPlan,
    minimum_cap,
    plan_minute_peak,
    ramp_windows,
    resume_load,
    scheduled_peak,
)

NOW = datetime(2026, 12, 7, 10, 0, 17, tzinfo=UTC)  # a resume, part-way through a minute
EPOCH = datetime(2026, 12, 7, 10, 2, tzinfo=UTC)  # the whole minute its ESA calls are done by
MINUTE = timedelta(minutes=1)


def _plan(
    key: str, start: datetime, end: datetime, *, job: str = "job", interval: int = 60, slice_len: int = 10
) -> ResumedPlan:
    return ResumedPlan(key, job, start, end, interval, slice_len)


def _with_windows(
    plans: Sequence[ResumedPlan], windows: Mapping[str, tuple[datetime, datetime]]
) -> list[ResumedPlan]:
    return [ResumedPlan(p.key, p.job, *windows[p.key], p.interval, p.slice_len) for p in plans]


def _bound(
    plans: Sequence[ResumedPlan], remaining_urls: Mapping[str, int], now: datetime
) -> Counter[datetime]:
    """URLs per wall-clock minute the plans could send from `now` if they did not share their jobs'
    URLs (each plan alone sending at most what its job has left): every batch time listed one by one
    (the ramp counts them; this is the slow, obvious way)."""
    minutes: Counter[datetime] = Counter()
    for plan in plans:
        moment, left = max(plan.start, now), remaining_urls[plan.job]
        while moment <= plan.end and left > 0:
            minutes[moment.replace(second=0, microsecond=0)] += plan.slice_len
            moment += timedelta(seconds=plan.interval)
            left -= plan.slice_len
    return minutes


# --- the window arithmetic ---


def test_a_passed_start_moves_to_the_epoch_with_the_length_it_had_left() -> None:
    passed = _plan("passed", NOW - timedelta(minutes=30), NOW + timedelta(hours=1))
    before_epoch = _plan("soon", NOW + timedelta(seconds=20), NOW + timedelta(minutes=40))
    later = _plan("later", NOW + timedelta(minutes=30, seconds=15), NOW + timedelta(hours=2))
    ramp = ramp_windows(
        plans=[passed, before_epoch, later], remaining_urls={"job": 10_000}, cap=1000, now=NOW, epoch=EPOCH
    )
    # As it was, `passed` would fire at once, at now, and run to its end: that length is kept.
    assert ramp.windows["passed"] == (EPOCH, EPOCH + timedelta(hours=1))
    assert ramp.windows["soon"] == (EPOCH, EPOCH + (before_epoch.end - before_epoch.start))
    assert ramp.windows["later"] == (later.start, later.end)
    assert ramp.last_start is None  # moved to the epoch, but not delayed


def test_plans_are_delayed_by_whole_minutes_in_order_of_their_start() -> None:
    # Plans of 10 URLs a minute under a cap of 10: each waits for the minutes of those before it.
    first = _plan("b-first", NOW - timedelta(minutes=5), NOW + timedelta(minutes=30))
    second = _plan("a-second", NOW - timedelta(minutes=3), NOW + timedelta(minutes=10))
    later = _plan("c-later", EPOCH + timedelta(minutes=5, seconds=42), EPOCH + timedelta(minutes=8))
    ramp = ramp_windows(
        plans=[second, later, first], remaining_urls={"job": 10_000}, cap=10, now=NOW, epoch=EPOCH
    )
    # Batches at the epoch and every minute to 30 minutes on: 31 minutes.
    assert ramp.windows["b-first"] == (EPOCH, EPOCH + timedelta(minutes=30))
    # Passed too, so on a whole minute from the epoch, after b-first's 31: 11 minutes.
    assert ramp.windows["a-second"] == (EPOCH + timedelta(minutes=31), EPOCH + timedelta(minutes=41))
    # Moved whole minutes, so it keeps its seconds: its 3 batches after the others' 42 minutes.
    assert ramp.windows["c-later"] == (later.start + timedelta(minutes=37), later.end + timedelta(minutes=37))
    assert ramp.last_start == later.start + timedelta(minutes=37)
    assert ramp.load.urls == [0, 0] + [10] * 45 + [0]  # to a minute past the last window


def test_ties_in_start_are_placed_in_order_of_key() -> None:
    plans = [_plan(key, NOW - MINUTE, NOW + timedelta(minutes=5)) for key in ("z", "m", "a")]
    ramp = ramp_windows(plans=plans, remaining_urls={"job": 10_000}, cap=10, now=NOW, epoch=EPOCH)
    assert [ramp.windows[key][0] for key in ("a", "m", "z")] == [
        EPOCH,
        EPOCH + timedelta(minutes=6),
        EPOCH + timedelta(minutes=12),
    ]


def test_long_interval_plans_interleave_instead_of_waiting_for_each_other() -> None:
    # One batch an hour: a cap of one batch a minute only offsets them by a minute each.
    plans = [
        _plan(f"hourly-{n}", NOW - MINUTE, NOW + timedelta(hours=2), interval=3600, slice_len=100)
        for n in range(3)
    ]
    ramp = ramp_windows(plans=plans, remaining_urls={"job": 10**6}, cap=100, now=NOW, epoch=EPOCH)
    assert [ramp.windows[f"hourly-{n}"][0] for n in range(3)] == [EPOCH + n * MINUTE for n in range(3)]
    assert ramp.load.total == 3 * 3 * 100  # each keeps its window's length: batches at 0, 1 and 2 hours
    assert max(ramp.load.urls) == 100


def test_a_45_second_plan_is_counted_minute_by_minute() -> None:
    # Batches at :00 and :45, then 1:30, 2:15, then 3:00 and 3:45 ...: 2, 1, 1, 2, 1, 1, ... batches.
    # Another plan of 10 a minute fits beside it under a cap of 20 where it sends one batch only.
    plans = [
        _plan("a-45s", EPOCH, EPOCH + timedelta(minutes=9), interval=45),
        _plan("b-60s", EPOCH, EPOCH + timedelta(minutes=1), interval=60),
    ]
    ramp = ramp_windows(plans=plans, remaining_urls={"job": 10_000}, cap=20, now=NOW, epoch=EPOCH)
    assert ramp.windows["b-60s"][0] == EPOCH + MINUTE  # minute 0 has 20 already; minutes 1 and 2 have 10
    assert ramp.load.urls[2:] == [20, 20, 20, 20, 10, 10, 20, 10, 10, 10]


def test_a_job_with_no_urls_left_or_a_window_that_is_over_delays_nothing() -> None:
    busy = _plan("busy", NOW - MINUTE, NOW + timedelta(hours=1))
    done_job = _plan("done-job", NOW - MINUTE, NOW + timedelta(hours=1), job="done")
    over = _plan("over", NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    ramp = ramp_windows(
        plans=[busy, done_job, over], remaining_urls={"job": 10**4, "done": 0}, cap=10, now=NOW, epoch=EPOCH
    )
    assert ramp.windows["done-job"][0] == EPOCH
    assert ramp.windows["over"] == (over.start, over.end)
    assert ramp.last_start is None


def test_a_plan_is_not_counted_past_what_its_job_has_left() -> None:
    # 100 URLs left: a plan of 30 a batch sends 4 batches at most, whatever its hour-long window, so
    # the second plan waits 4 minutes, not the hour. (It then finds the job empty: the bound does not
    # know what the plans of one job take from each other, the forecast does.)
    plans = [
        _plan("a", NOW - MINUTE, NOW + timedelta(hours=1), slice_len=30),
        _plan("b", NOW - MINUTE, NOW + timedelta(hours=1), slice_len=30),
    ]
    ramp = ramp_windows(plans=plans, remaining_urls={"job": 100}, cap=40, now=NOW, epoch=EPOCH)
    assert ramp.windows["b"] == (EPOCH + 4 * MINUTE, EPOCH + 4 * MINUTE + timedelta(hours=1))
    assert ramp.load.start == NOW.replace(second=0)
    assert ramp.load.urls[:7] == [0, 0, 30, 30, 30, 10, 0]
    assert ramp.load.total == 100


def test_an_epoch_before_now_or_a_job_without_a_count_is_refused() -> None:
    plan = _plan("p", NOW, NOW + MINUTE)
    with pytest.raises(ValueError, match="before now"):
        ramp_windows(plans=[plan], remaining_urls={"job": 1}, cap=10, now=NOW, epoch=NOW - MINUTE)
    with pytest.raises(ValueError, match="no count of remaining URLs for job job"):
        resume_load(plans=[plan], remaining_urls={}, now=NOW, until=NOW + MINUTE)


# --- per-minute peaks and the minimum cap ---


@pytest.mark.parametrize(
    ("interval", "peak"), [(1, 600), (45, 20), (59, 20), (60, 10), (61, 10), (3600, 10), (0, 0)]
)
def test_plan_minute_peak(interval: int, peak: int) -> None:
    assert plan_minute_peak(interval=interval, slice_len=10) == peak


def test_a_cap_below_one_plans_own_peak_is_refused_naming_the_minimum() -> None:
    plans = [
        _plan("plan-0000abcd1234", NOW, NOW + timedelta(hours=1), interval=1, slice_len=2),
        _plan("plan-0000ffff0000", NOW, NOW + timedelta(hours=1), interval=45, slice_len=50),
    ]
    assert minimum_cap(plans=plans) == 120
    assert minimum_cap(plans=[]) == 0
    with pytest.raises(RampError) as refused:
        ramp_windows(plans=plans, remaining_urls={"job": 10**6}, cap=119, now=NOW, epoch=EPOCH)
    assert str(refused.value) == (
        "the cap must be at least 120 URLs a minute: plan …abcd1234 alone sends 120 in a minute"
    )
    assert refused.value.minimum_cap == 120
    ramp_windows(plans=plans, remaining_urls={"job": 10**6}, cap=120, now=NOW, epoch=EPOCH)


# --- the load as it was ---


def test_resume_load_puts_passed_starts_at_once_and_sums_the_jobs() -> None:
    plans = [
        _plan("a", NOW - timedelta(minutes=30), NOW + timedelta(minutes=3), job="one"),
        _plan("b", NOW - timedelta(minutes=10), NOW + timedelta(minutes=3), job="two", slice_len=5),
        _plan("c", NOW + MINUTE, NOW + timedelta(minutes=3), job="two", slice_len=5),
    ]
    load = resume_load(plans=plans, remaining_urls={"one": 25, "two": 100}, now=NOW, until=NOW + 5 * MINUTE)
    # The burst: every passed start fires in the minute of the resume; job "one" runs out at minute 2.
    assert load.urls == [10 + 5, 10 + 5 + 5, 5 + 5 + 5, 5 + 5, 0, 0]  # until 10:05:17: 6 minutes
    assert (
        scheduled_peak(plans=plans, remaining_urls={"one": 25, "two": 100}, now=NOW, until=NOW + 5 * MINUTE)
        == 20
    )


def test_scheduled_peak_before_the_hold_is_lower_than_the_burst_of_a_resume() -> None:
    # As scheduled at the hold's time, the plans fire every 5 minutes a minute apart; put back
    # as they were after an hour's hold, all three fire in the minute of the resume.
    hold = NOW - timedelta(hours=1)
    plans = [
        _plan(f"p{n}", hold + timedelta(minutes=n), NOW + timedelta(hours=1), interval=300) for n in range(3)
    ]
    remaining = {"job": 10_000}
    before = scheduled_peak(plans=plans, remaining_urls=remaining, now=hold, until=hold + timedelta(hours=1))
    assert before == 10
    assert (
        scheduled_peak(plans=plans, remaining_urls=remaining, now=NOW, until=NOW + timedelta(hours=1)) == 30
    )


def test_scheduled_peak_is_0_when_nothing_is_sent() -> None:
    plan = _plan("a", NOW, NOW + timedelta(hours=1))
    assert scheduled_peak(plans=[plan], remaining_urls={"job": 0}, now=NOW, until=NOW + MINUTE) == 0
    assert scheduled_peak(plans=[], remaining_urls={}, now=NOW, until=NOW + MINUTE) == 0


# --- properties on random plans ---


@st.composite
def _resumes(draw: st.DrawFn) -> tuple[list[ResumedPlan], dict[str, int], datetime, datetime]:
    """Plans of a few jobs, windows before, around and after now."""
    # `now` is the resume's moment, microseconds and all; ESA's times are whole seconds.
    now = NOW + timedelta(seconds=draw(st.integers(0, 59)), microseconds=draw(st.integers(0, 999_999)))
    epoch = now.replace(second=0, microsecond=0) + timedelta(minutes=draw(st.integers(1, 3)))
    jobs = ["job-a", "job-b", "job-c"]
    plans = []
    for number in range(draw(st.integers(1, 12))):
        start = now.replace(microsecond=0) + timedelta(seconds=draw(st.integers(-3600, 3600)))
        plans.append(
            ResumedPlan(
                key=f"plan-{number:04d}",
                job=draw(st.sampled_from(jobs)),
                start=start,
                end=start + timedelta(seconds=draw(st.integers(0, 7200))),
                interval=draw(st.one_of(st.integers(1, 59), st.integers(1, 900))),
                slice_len=draw(st.one_of(st.integers(1, 5), st.integers(1, 50))),
            )
        )
    remaining = {job: draw(st.integers(0, 5000)) for job in jobs}
    return plans, remaining, now, epoch


@settings(max_examples=150, deadline=None)
# Mostly tight caps: those are the ones that make the plans queue up, for hours.
@given(resume=_resumes(), headroom=st.one_of(st.just(0), st.integers(0, 100), st.integers(0, 3000)))
def test_a_ramp_keeps_every_minute_under_its_cap_and_only_moves_windows(
    resume: tuple[list[ResumedPlan], dict[str, int], datetime, datetime], headroom: int
) -> None:
    plans, remaining, now, epoch = resume
    _check_ramp(plans, remaining, now=now, epoch=epoch, cap=minimum_cap(plans=plans) + headroom)


@pytest.mark.parametrize("seed", range(25))
def test_a_ramp_of_many_plans_queued_for_hours(seed: int) -> None:
    # More plans than the property test draws, under tight caps: the search for a plan's place then
    # crosses long saturated stretches of the timeline, where a jump too far would go unnoticed
    # by small cases (it did once: past the last known minute to the end of its block).
    rng = random.Random(seed)
    now = NOW + timedelta(seconds=rng.randint(0, 59))
    plans = []
    for number in range(40):
        start = now + timedelta(seconds=rng.randint(-3600, 3600))
        interval = rng.choice([rng.randint(1, 59), rng.randint(1, 900)])
        plans.append(
            ResumedPlan(
                f"plan-{number:02d}",
                f"job-{number % 3}",
                start,
                start + timedelta(seconds=rng.randint(0, 3600)),
                interval,
                rng.randint(1, 50),
            )
        )
    remaining = {f"job-{n}": 10**6 for n in range(3)}
    cap = minimum_cap(plans=plans) * rng.choice([1, 1, 2, 3])
    _check_ramp(plans, remaining, now=now, epoch=now.replace(second=0) + 2 * MINUTE, cap=cap)


def _check_ramp(
    plans: Sequence[ResumedPlan],
    remaining: Mapping[str, int],
    *,
    now: datetime,
    epoch: datetime,
    cap: int,
) -> None:
    """Every promise of `ramp_windows`, checked the slow way."""
    ramp = ramp_windows(plans=plans, remaining_urls=remaining, cap=cap, now=now, epoch=epoch)
    ramped = _with_windows(plans, ramp.windows)

    # (a) the forecast and (b) the bound it is under, in every minute.
    assert max(ramp.load.urls, default=0) <= cap
    assert max(_bound(ramped, remaining, now).values(), default=0) <= cap

    # (c) each window is the one it had as it was, from the epoch at the earliest, moved whole minutes.
    delayed = []
    for plan in plans:
        start, end = ramp.windows[plan.key]
        left = plan.end - max(plan.start, now)
        if left < timedelta(0):
            assert (start, end) == (plan.start, plan.end)
            continue
        shift = start - max(plan.start, epoch)
        assert shift >= timedelta(0) and shift % MINUTE == timedelta(0)
        assert end - start == left
        if shift:
            delayed.append(start)
    assert ramp.last_start == max(delayed, default=None)

    # (d) nothing is lost: with every window inside the horizon, the same URLs go out, only later.
    until = max([plan.end for plan in plans] + [end for _, end in ramp.windows.values()]) + MINUTE
    as_it_was = resume_load(plans=plans, remaining_urls=remaining, now=now, until=until)
    assert resume_load(plans=ramped, remaining_urls=remaining, now=now, until=until).total == as_it_was.total
    assert ramp.load.total == as_it_was.total

    # Greedy: no plan could have started a minute earlier, given the plans placed before it.
    placed: Counter[datetime] = Counter()
    for plan in sorted(ramped, key=lambda p: (next(q.start for q in plans if q.key == p.key), p.key)):
        mine = _bound([plan], remaining, now)
        original = next(q for q in plans if q.key == plan.key)
        earliest = max(original.start, epoch)
        for earlier in range(int((plan.start - earliest) / MINUTE)):
            moved = {minute - (earlier + 1) * MINUTE: urls for minute, urls in mine.items()}
            assert any(placed[minute] + urls > cap for minute, urls in moved.items()), plan
        placed.update(mine)


@settings(max_examples=100, deadline=None)
@given(resume=_resumes())
def test_a_cap_the_plans_never_reach_delays_nothing(
    resume: tuple[list[ResumedPlan], dict[str, int], datetime, datetime],
) -> None:
    plans, remaining, now, epoch = resume
    # (e) Every start at or after the epoch, and a cap at the peak of the bound as it was.
    later = [
        ResumedPlan(
            p.key,
            p.job,
            max(p.start, epoch),
            max(p.start, epoch) + (p.end - p.start),
            p.interval,
            p.slice_len,
        )
        for p in plans
    ]
    cap = max(minimum_cap(plans=later), *_bound(later, remaining, now).values(), 0)
    ramp = ramp_windows(plans=later, remaining_urls=remaining, cap=cap, now=now, epoch=epoch)
    assert ramp.last_start is None
    assert ramp.windows == {p.key: (p.start, p.end) for p in later}


# --- against the simulator's engine ---


def _engine_minutes(
    plans: Sequence[ResumedPlan], remaining_urls: Mapping[str, int], now: datetime, until: datetime
) -> list[int]:
    """URLs the simulator's engine sends in each minute from now's, second by second from now (every
    batch time is a whole second here, or now). A passed start fires at once, as in the engine and at ESA."""
    jobs: dict[str, tuple[JobProgress, list[PlanProgress]]] = {}
    for seq, plan in enumerate(plans):
        urls = remaining_urls[plan.job]
        job, progress = jobs.setdefault(plan.job, (JobProgress(url_count=urls, valid_flags="1" * urls), []))
        first = max(plan.start, now)
        progress.append(
            PlanProgress(
                id=plan.key,
                seq=seq,
                start_time=plan.start.timestamp(),
                end_time=plan.end.timestamp(),
                interval=plan.interval,
                slice_len=plan.slice_len,
                state="active" if first <= plan.end else "finished",
                next_batch_at=first.timestamp() if first <= plan.end else None,
            )
        )
    start = now.replace(second=0, microsecond=0)
    per_minute = [0] * math.ceil((until - start) / MINUTE)
    for second in range(int((until - now).total_seconds())):
        moment = now + timedelta(seconds=second)
        for job, progress in jobs.values():
            before = job.cursor
            advance(job, progress, moment.timestamp())
            per_minute[int((moment - start) / MINUTE)] += job.cursor - before
    return per_minute


@pytest.mark.parametrize("seed", range(6))
def test_the_simulators_engine_never_passes_the_cap_with_the_ramped_windows(seed: int) -> None:
    rng = random.Random(seed)
    now = NOW + timedelta(seconds=rng.randint(0, 59), microseconds=rng.randint(0, 999_999))
    epoch = now.replace(second=0, microsecond=0) + 2 * MINUTE
    plans = []
    for number in range(rng.randint(3, 8)):
        start = now.replace(microsecond=0) + timedelta(seconds=rng.randint(-1800, 900))
        plans.append(
            ResumedPlan(
                f"plan-{number}",
                rng.choice(["job-a", "job-b"]),
                start,
                start + timedelta(seconds=rng.randint(60, 1800)),
                rng.choice([1, 7, 20, 45, 60, 90, 300]),
                rng.randint(1, 50),
            )
        )
    remaining = {"job-a": rng.randint(100, 20_000), "job-b": rng.randint(100, 20_000)}
    burst = resume_load(plans=plans, remaining_urls=remaining, now=now, until=now + timedelta(hours=1))
    cap = max(minimum_cap(plans=plans), max(burst.urls) // 3)
    ramp = ramp_windows(plans=plans, remaining_urls=remaining, cap=cap, now=now, epoch=epoch)
    until = max(end for _, end in ramp.windows.values()) + MINUTE
    simulated = _engine_minutes(_with_windows(plans, ramp.windows), remaining, now, until)
    assert max(simulated) <= cap
    assert simulated == ramp.load.urls
