"""How a site's scheduled plans will use its daily prefetch quota: "at this schedule, today's quota
runs out at 16:40; 12,000 URLs will be refused". Pure (no Django, no I/O), on aware datetimes.

ESA's model as the simulator plays it (docs/simulator.md#quotas): a site has a prefetch quota of
URLs a day, renewed at midnight in the quota's time zone. Each batch's URLs are charged to the
quota of the day the batch was due (a batch at exactly midnight belongs to the new day); the URLs
past the quota are refused, but they still leave the job's list (they count in UrlSubmitted, not in
TaskSubmitted), so a refusal does not leave URLs for the next day.

What a job sends is `url_shares`' model: each plan fires `slice_len` URLs at each batch time inside
its window, and all plans of a job draw from its one list until it runs out (the last batch may be
partial). So a job's URLs sent by `t` are `min(remaining, sum of slice_len * batches fired by t)`.
Every URL is counted as charged: ESA does not charge a URL it found invalid, so the forecast is an
upper bound when a job holds some.

Plans are counted, not stepped through, and times are whole microseconds from `now`, so a day of
1-second plans over many jobs costs a few divisions per plan per step of a bisection, and the time
the quota runs out is exact: it is a batch time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .forecast import ScheduledPlan
from .url_shares import BatchTimes, batch_times, micros

__all__ = ["QuotaDayForecast", "QuotaJob", "quota_day", "quota_forecast"]


def quota_day(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The quota day holding `moment`: its first instant and the next day's first instant (aware, UTC).

    Built as the simulator builds it (`Quotas.day_of`): local midnights of the moment's date and the
    next, so a day across a change of offset is 23 or 25 hours long.
    """
    _require_aware(moment, "moment")
    day = moment.astimezone(zone).date()
    following = day + timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class QuotaJob:
    """A job as the quota sees it: the URLs it has still to submit and the plans that will send them."""

    remaining_urls: int  # the job's URLs not yet submitted (UrlCount - UrlSubmitted)
    plans: Sequence[ScheduledPlan]  # its waiting/running plans (forecast.ScheduledPlan)


@dataclass(frozen=True, slots=True)
class QuotaDayForecast:
    """One quota day at the current schedule: what is used, what the plans will send, what is refused."""

    start: datetime  # the quota day's first instant
    end: datetime  # the next day's first instant
    quota: int  # URLs a day
    used: int  # already used on this day when the forecast was made (only the first day; 0 after)
    scheduled: int  # URLs the schedule sends from `now` (or the day's start) until the day's end
    runs_out_at: datetime | None  # the batch time at which the first URL is refused; None if none is
    # URLs refused: max(0, used + scheduled - quota), but never more than `scheduled` (what was used
    # before the forecast is not refused again when the quota was lowered below it).
    refused: int

    @property
    def left(self) -> int:
        """What the quota has left for this day before the schedule's batches."""
        return max(0, self.quota - self.used)

    @property
    def left_after(self) -> int:
        """What the quota will have left at the day's end."""
        return max(0, self.quota - self.used - self.scheduled)


@dataclass(frozen=True, slots=True)
class _JobSchedule:
    remaining: int
    batches: tuple[BatchTimes, ...]

    def sent_before(self, moment: int) -> int:
        """URLs the job's plans have taken from its list strictly before `moment`."""
        return min(self.remaining, sum(batch.size * batch.before(moment) for batch in self.batches))


def _schedules(jobs: Sequence[QuotaJob], now: datetime) -> list[_JobSchedule]:
    schedules = []
    for job in jobs:
        if job.remaining_urls <= 0:
            continue
        # Exact microseconds, as the simulator compares its batch times with the plan's end, rather
        # than `forecast.batch_count`'s float tolerance: a day boundary must not move a batch.
        live = tuple(batch for plan in job.plans if (batch := batch_times(plan, now)) is not None)
        if live:
            schedules.append(_JobSchedule(job.remaining_urls, live))
    return schedules


def _sent_before(schedules: Sequence[_JobSchedule], moment: int) -> int:
    return sum(schedule.sent_before(moment) for schedule in schedules)


def _first_refused(schedules: Sequence[_JobSchedule], *, since: int, until: int, allowance: int) -> int:
    """The first batch time in [since, until) by which the URLs sent from `since` exceed `allowance`.

    The caller knows there is one. A bisection on whole microseconds: what was sent only grows, and
    only at batch times, so the first moment past the allowance is one.
    """
    base = _sent_before(schedules, since)
    within, past = since - 1, until - 1  # sent through `within`: within the allowance; through `past`: not
    while past - within > 1:
        middle = (within + past) // 2
        if _sent_before(schedules, middle + 1) - base > allowance:
            past = middle
        else:
            within = middle
    return past


def quota_forecast(
    *, quota: int, used_today: int, jobs: Sequence[QuotaJob], now: datetime, zone: ZoneInfo, days: int = 1
) -> list[QuotaDayForecast]:
    """Today's quota day (from now) and the `days - 1` after it.

    `used_today` is what the quota day holding `now` has used so far (the jobs' TaskSubmitted
    charged today, or ESA's figure). A batch at exactly `now` counts as still to come. A quota of
    0 refuses every URL; a negative quota or use, or fewer than one day, is a caller's error.
    """
    _require_aware(now, "now")
    if quota < 0:
        raise ValueError(f"a quota is never negative: {quota}")
    if used_today < 0:
        raise ValueError(f"a quota's use is never negative: {used_today}")
    if days < 1:
        raise ValueError(f"forecast at least one day, not {days}")
    schedules = _schedules(jobs, now)
    forecasts = []
    start, end = quota_day(now, zone)
    used = used_today
    for _ in range(days):
        since = max(0, micros(start - now))
        until = micros(end - now)
        scheduled = _sent_before(schedules, until) - _sent_before(schedules, since)
        allowance = max(0, quota - used)
        refused = max(0, scheduled - allowance)
        runs_out_at = None
        if refused:
            moment = _first_refused(schedules, since=since, until=until, allowance=allowance)
            runs_out_at = (now + timedelta(microseconds=moment)).astimezone(UTC)
        forecasts.append(QuotaDayForecast(start, end, quota, used, scheduled, runs_out_at, refused))
        start, end = end, quota_day(end, zone)[1]
        used = 0
    return forecasts


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
