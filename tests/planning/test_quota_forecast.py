"""The quota forecast's arithmetic, checked by hand: which quota day a batch is charged to, how many
URLs the schedule sends each day, how many the quota refuses, and at which batch it runs out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.planning.quotas import QuotaDayForecast, QuotaJob, quota_day, quota_forecast

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 09:00 in Shanghai: the quota day runs from 16:00 UTC the day before to 16:00 UTC today.
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
DAY_START = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)


def _minutes(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def _every_minute(start: datetime, *, minutes: int, slice_len: int = 10) -> ScheduledPlan:
    """A plan firing `slice_len` URLs each minute from `start`, `minutes + 1` batches in all."""
    return ScheduledPlan(start, start + _minutes(minutes), interval=60, slice_len=slice_len)


def _forecast(
    *jobs: QuotaJob, quota: int, used_today: int = 0, now: datetime = NOW, days: int = 1
) -> list[QuotaDayForecast]:
    return quota_forecast(quota=quota, used_today=used_today, jobs=jobs, now=now, zone=SHANGHAI, days=days)


def test_the_quota_day_is_the_time_zones_and_midnight_belongs_to_the_new_day() -> None:
    assert quota_day(NOW, SHANGHAI) == (DAY_START, MIDNIGHT)
    assert quota_day(MIDNIGHT - timedelta(microseconds=1), SHANGHAI) == (DAY_START, MIDNIGHT)
    assert quota_day(MIDNIGHT, SHANGHAI) == (MIDNIGHT, MIDNIGHT + timedelta(days=1))
    assert quota_day(NOW, ZoneInfo("UTC")) == (
        datetime(2026, 12, 7, tzinfo=UTC),
        datetime(2026, 12, 8, tzinfo=UTC),
    )
    # A moment given in another zone is the same instant.
    assert quota_day(NOW.astimezone(ZoneInfo("America/New_York")), SHANGHAI) == (DAY_START, MIDNIGHT)
    start, end = quota_day(NOW, SHANGHAI)
    assert start.tzinfo is UTC and end.tzinfo is UTC
    # The day clocks go forward is 23 hours long.
    start, end = quota_day(datetime(2026, 3, 29, 12, tzinfo=UTC), ZoneInfo("Europe/Berlin"))
    assert (start, end - start) == (datetime(2026, 3, 28, 23, tzinfo=UTC), timedelta(hours=23))
    with pytest.raises(ValueError, match="aware"):
        quota_day(datetime(2026, 12, 7, 1, 0), SHANGHAI)


def test_the_quota_runs_out_at_the_batch_that_passes_it() -> None:
    job = QuotaJob(remaining_urls=1000, plans=[_every_minute(NOW, minutes=60)])  # 61 batches of 10
    [today] = _forecast(job, quota=300, used_today=50)
    # 250 left: the first 25 batches fit exactly, the 26th (25 minutes on) is refused.
    assert (today.start, today.end, today.quota, today.used) == (DAY_START, MIDNIGHT, 300, 50)
    assert (today.scheduled, today.refused, today.runs_out_at) == (610, 360, NOW + _minutes(25))
    assert (today.left, today.left_after) == (250, 0)
    assert today.runs_out_at is not None and today.runs_out_at.tzinfo is UTC


def test_a_schedule_that_fits_exactly_is_not_refused() -> None:
    job = QuotaJob(remaining_urls=1000, plans=[_every_minute(NOW, minutes=24)])  # 250 URLs
    [today] = _forecast(job, quota=300, used_today=50)
    assert (today.scheduled, today.refused, today.runs_out_at, today.left_after) == (250, 0, None, 0)
    [roomy] = _forecast(job, quota=1000, used_today=50)
    assert (roomy.refused, roomy.runs_out_at, roomy.left, roomy.left_after) == (0, None, 950, 700)


def test_the_partial_last_batch_is_what_the_job_has_left() -> None:
    job = QuotaJob(remaining_urls=95, plans=[_every_minute(NOW, minutes=60)])
    [today] = _forecast(job, quota=94)
    # Nine batches of 10, then the last 5 at minute 9: the 95th URL is the one refused.
    assert (today.scheduled, today.refused, today.runs_out_at) == (95, 1, NOW + _minutes(9))
    [fits] = _forecast(job, quota=95)
    assert (fits.refused, fits.runs_out_at) == (0, None)


def test_a_batch_at_midnight_is_charged_to_the_new_day() -> None:
    # Batches at 23:58, 23:59, 00:00 and 00:01 in Shanghai.
    job = QuotaJob(remaining_urls=1000, plans=[_every_minute(MIDNIGHT - _minutes(2), minutes=3)])
    today, tomorrow = _forecast(job, quota=20, days=2)
    assert (today.scheduled, today.refused, today.runs_out_at) == (20, 0, None)
    assert (tomorrow.start, tomorrow.end) == (MIDNIGHT, MIDNIGHT + timedelta(days=1))
    assert (tomorrow.used, tomorrow.scheduled, tomorrow.refused) == (0, 20, 0)
    today, tomorrow = _forecast(job, quota=15, days=2)
    assert (today.refused, today.runs_out_at) == (5, MIDNIGHT - _minutes(1))
    assert (tomorrow.refused, tomorrow.runs_out_at) == (5, MIDNIGHT + _minutes(1))


def test_a_quota_used_beyond_its_size_refuses_every_url_and_no_more() -> None:
    job = QuotaJob(remaining_urls=1000, plans=[_every_minute(NOW + _minutes(5), minutes=9)])  # 100 URLs
    [today] = _forecast(job, quota=300, used_today=500)
    # The quota was lowered below what the day had used: what was used is not refused again.
    assert (today.used, today.scheduled, today.refused) == (500, 100, 100)
    assert (today.runs_out_at, today.left, today.left_after) == (NOW + _minutes(5), 0, 0)
    [used_up] = _forecast(job, quota=300, used_today=300)
    assert (used_up.refused, used_up.runs_out_at) == (100, NOW + _minutes(5))


def test_a_quota_of_zero_refuses_the_first_batch() -> None:
    job = QuotaJob(remaining_urls=30, plans=[_every_minute(NOW + _minutes(3), minutes=60)])
    [today] = _forecast(job, quota=0)
    assert (today.scheduled, today.refused, today.runs_out_at, today.left) == (30, 30, NOW + _minutes(3), 0)
    # Nothing scheduled: nothing refused, even of an empty quota.
    [idle] = _forecast(QuotaJob(remaining_urls=0, plans=job.plans), quota=0)
    assert (idle.scheduled, idle.refused, idle.runs_out_at) == (0, 0, None)


def test_several_jobs_share_the_sites_quota_in_time_order() -> None:
    # Job A fires 10 URLs at 0, 2, 4... minutes; job B 25 at 1, 3, 5... minutes.
    a = QuotaJob(
        remaining_urls=1000, plans=[ScheduledPlan(NOW, NOW + _minutes(60), interval=120, slice_len=10)]
    )
    b = QuotaJob(
        remaining_urls=1000,
        plans=[ScheduledPlan(NOW + _minutes(1), NOW + _minutes(61), interval=120, slice_len=25)],
    )
    [today] = _forecast(a, b, quota=100)
    # 10, 35, 45, 70, 80, 105: B's batch at minute 5 is the one refused.
    assert (today.scheduled, today.refused, today.runs_out_at) == (31 * 35, 31 * 35 - 100, NOW + _minutes(5))
    [just] = _forecast(a, b, quota=80)
    assert just.runs_out_at == NOW + _minutes(5)
    [less] = _forecast(a, b, quota=79)
    assert less.runs_out_at == NOW + _minutes(4)


def test_plans_of_one_job_draw_from_its_one_list() -> None:
    plans = [
        _every_minute(NOW, minutes=60),
        _every_minute(NOW + timedelta(seconds=30), minutes=60, slice_len=5),
    ]
    [today] = _forecast(QuotaJob(remaining_urls=100, plans=plans), quota=1000)
    assert today.scheduled == 100  # not 61 * 15: the job runs out
    [today] = _forecast(QuotaJob(remaining_urls=100, plans=plans), quota=42)
    # 10 at 0:00, 5 at 0:30, 10 at 1:00, 5 at 1:30, 10 at 2:00 (40), 5 at 2:30 (45): refused at 2:30.
    assert (today.refused, today.runs_out_at) == (58, NOW + timedelta(minutes=2, seconds=30))


def test_a_job_running_out_mid_day_stops_using_the_quota() -> None:
    small = QuotaJob(remaining_urls=45, plans=[_every_minute(NOW, minutes=600)])
    big = QuotaJob(remaining_urls=10_000, plans=[_every_minute(NOW + _minutes(60), minutes=600)])
    [today] = _forecast(small, big, quota=500)
    # The small job sends 45 in its first five minutes; the big one 10 a minute from an hour on.
    assert today.scheduled == 45 + 6010
    assert today.runs_out_at == NOW + _minutes(60 + 45)  # 45 + 46 batches of 10 = 505 > 500


def test_day_two_sees_what_day_one_left_refused_urls_included() -> None:
    # 10 URLs a minute from 22:00 in Shanghai until 02:00 the next day; 1,500 URLs in the job.
    start = MIDNIGHT - _minutes(120)
    job = QuotaJob(remaining_urls=1500, plans=[_every_minute(start, minutes=240)])
    today, tomorrow, after = _forecast(job, quota=1000, used_today=900, days=3)
    # Today: 120 batches (1,200 URLs) before midnight, 100 of them within the quota.
    assert (today.scheduled, today.refused, today.runs_out_at) == (1200, 1100, start + _minutes(10))
    # The refused URLs left the list anyway: 300 remain for the new day, all within its quota.
    assert (tomorrow.used, tomorrow.scheduled, tomorrow.refused, tomorrow.runs_out_at) == (0, 300, 0, None)
    assert (after.start, after.scheduled, after.refused) == (MIDNIGHT + timedelta(days=1), 0, 0)


def test_the_first_day_counts_from_now_only() -> None:
    # A plan that started at 08:00 in Shanghai and fires each minute: its batches before now are in
    # `used_today` already, and the one at exactly `now` is still to come.
    running = ScheduledPlan(NOW - _minutes(60), NOW + _minutes(9), interval=60, slice_len=10, running=True)
    [today] = _forecast(QuotaJob(remaining_urls=1000, plans=[running]), quota=10_000, used_today=610)
    assert (today.used, today.scheduled) == (610, 100)
    # Between batches, the running plan keeps its phase.
    later = NOW + timedelta(seconds=30)
    [today] = _forecast(QuotaJob(remaining_urls=1000, plans=[running]), quota=615, used_today=610, now=later)
    assert (today.scheduled, today.runs_out_at) == (90, NOW + _minutes(1))
    # A waiting plan whose start has passed fires at once.
    waiting = ScheduledPlan(NOW - _minutes(60), NOW + _minutes(60), interval=60, slice_len=10)
    [today] = _forecast(QuotaJob(remaining_urls=1000, plans=[waiting]), quota=0, now=later)
    assert today.runs_out_at == later


def test_times_with_microseconds_are_exact() -> None:
    start = NOW + timedelta(microseconds=123_457)
    plan = ScheduledPlan(start, start + _minutes(10), interval=7, slice_len=3)
    [today] = _forecast(
        QuotaJob(remaining_urls=1000, plans=[plan]), quota=30, now=NOW + timedelta(microseconds=1)
    )
    # Ten batches of 3 fill a quota of 30: the first URL refused is in the 11th batch, which the
    # plan fires at its start plus ten intervals, to the microsecond (no rounding of the start).
    eleventh = plan.start + 10 * timedelta(seconds=plan.interval)
    assert today.runs_out_at == eleventh
    assert (today.scheduled, today.refused) == (3 * 86, 3 * 86 - 30)


def test_empty_or_nonsense_schedules_send_nothing() -> None:
    plans = [
        _every_minute(NOW - _minutes(120), minutes=60),  # its window has passed
        ScheduledPlan(NOW, NOW + _minutes(60), interval=0, slice_len=10),
        ScheduledPlan(NOW, NOW + _minutes(60), interval=60, slice_len=0),
    ]
    assert _forecast(QuotaJob(remaining_urls=1000, plans=plans), quota=0)[0].scheduled == 0
    # A job that has sent more than it holds (a stale answer) has nothing left, not less.
    job = QuotaJob(remaining_urls=-5, plans=[_every_minute(NOW, minutes=60)])
    assert _forecast(job, quota=0)[0].scheduled == 0
    assert _forecast(quota=10, used_today=3, days=2) == [
        QuotaDayForecast(DAY_START, MIDNIGHT, 10, 3, 0, None, 0),
        QuotaDayForecast(MIDNIGHT, MIDNIGHT + timedelta(days=1), 10, 0, 0, None, 0),
    ]


@pytest.mark.parametrize(
    ("quota", "used_today", "days", "message"),
    [
        (-1, 0, 1, "quota is never negative"),
        (10, -1, 1, "use is never negative"),
        (10, 0, 0, "at least one day"),
    ],
)
def test_negative_inputs_are_refused(quota: int, used_today: int, days: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _forecast(quota=quota, used_today=used_today, days=days)
    with pytest.raises(ValueError, match="aware"):
        _forecast(quota=10, now=datetime(2026, 12, 7, 1, 0))


def test_a_day_of_one_second_plans_over_many_jobs_is_counted_not_stepped() -> None:
    # 200 jobs, each with three 1-second plans over the whole day: 51,840,000 batches, counted.
    plans = [
        ScheduledPlan(DAY_START + timedelta(seconds=offset), MIDNIGHT, interval=1, slice_len=1)
        for offset in (0, 1, 2)
    ]
    jobs = [QuotaJob(remaining_urls=50_000 + job, plans=plans) for job in range(200)]
    today, tomorrow = _forecast(*jobs, quota=1_000_000, now=DAY_START, days=2)
    assert today.scheduled == sum(50_000 + job for job in range(200))
    # By second t (t >= 2) each job has sent t + 1, t and t - 1 URLs, 600 t in all: 1,000,200 by 1,667 s.
    assert today.runs_out_at == DAY_START + timedelta(seconds=1667)
    assert tomorrow.scheduled == 0
